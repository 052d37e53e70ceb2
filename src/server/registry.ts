// name -> registration, with a size cap and TTL expiry, stored in a
// SlotStore's typed-array columns (~170 B per client at 1M, not ~1.1 KB).
// O(1) lookups by name and by observed address through SlotIndexes. Every
// refresh moves an entry to the newest end of a doubly linked list, so the
// oldest entry is always first: sweeping expired entries stops at the first
// live one (amortised O(1) per entry). Each source IP (an IPv4 address, an
// IPv6 /64) has a ring of its entries in the same order, for the per-IP cap.
import { ipLimitKey, type Addr } from "../net/address.ts";
import { hashBytes, hashNumbers, hashText, NONE, SlotIndex } from "./slot-index.ts";
import { Registration } from "./registration.ts";
import { checkFields, parseIpv4, SlotStore } from "./slot-store.ts";

export { Registration };

export type RegisterResult =
  | { ok: true; reg: Registration; moved: boolean; isNew: boolean }
  | { ok: false; code: "NAME_TAKEN" | "REGISTRY_FULL" | "TOO_MANY_FROM_IP" };

export class Registry {
  private readonly seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  private readonly slots: SlotStore;
  private readonly byName: SlotIndex;
  private readonly byAddr: SlotIndex;
  /** Source IP -> the oldest slot of its ring (which keeps the ring's count). */
  private readonly byIp: SlotIndex;
  /** Ends of the refresh-order list. */
  private oldest = NONE;
  private newest = NONE;

  /** Registrations evicted to make room (see register()). */
  evicted = 0;
  /** Told of each registration that ends without its client asking (a cluster releases it in Redis too). */
  onDropped: ((name: string, publicKey: Uint8Array) => void) | undefined;

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
    readonly maxPerIp: number = Number.POSITIVE_INFINITY,
    /** When full, the least recently refreshed entry may be evicted once it has been silent this long. */
    readonly evictSilentAfterMs: number = Number.POSITIVE_INFINITY,
  ) {
    this.slots = new SlotStore(maxClients, (capacity) => {
      this.byName.resize(capacity, (s) => this.nameHash(s));
      this.byAddr.resize(capacity, (s) => this.addrHashOf(s));
      this.byIp.resize(capacity, (s) => this.ipHashOf(s));
    });
    this.byName = new SlotIndex(this.slots.capacity);
    this.byAddr = new SlotIndex(this.slots.capacity);
    this.byIp = new SlotIndex(this.slots.capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * Registers or refreshes `name` at `observed` for `publicKey`. The same key
   * may re-register from anywhere (restart, NAT rebinding); another key is
   * refused while the name is live.
   */
  register(name: string, publicKey: Uint8Array, secret: Uint8Array, observed: Addr, locals: Addr[], now: number): RegisterResult {
    checkFields(publicKey, secret, observed, locals);
    const st = this.slots;
    const v4 = parseIpv4(observed.ip);
    const ipKey = v4 < 0 ? ipLimitKey(observed.ip) : "";
    const existing = this.live(this.findName(name), now);
    if (existing !== NONE && !st.keyIs(existing, publicKey)) return { ok: false, code: "NAME_TAKEN" };
    const at = this.live(this.findAddr(v4, observed.ip, observed.port), now);
    const atGen = at === NONE ? 0 : st.gen[at]!;
    // The same key again from the same address (a retransmission, a second Challenge
    // answered): keep the secret the client may already hold.
    if (existing !== NONE && at === existing) secret = st.secretOf(existing);
    if (existing === NONE) {
      if (st.size >= this.maxClients) this.sweep(now);
      if (st.size >= this.maxClients && !this.evictSilent(this.oldest, now)) return { ok: false, code: "REGISTRY_FULL" };
      const first = this.findIp(v4, ipKey);
      const count = (first === NONE ? 0 : st.ipCount[first]!) - (at !== NONE ? 1 : 0);
      if (count >= this.maxPerIp && !this.evictSilent(first, now)) return { ok: false, code: "TOO_MANY_FROM_IP" };
    }
    const mapping = existing === NONE ? 0 : st.mapping[existing]!;
    // One address holds one registration: whoever registers from it now owns it
    // (unless an eviction above already removed it).
    if (at !== NONE && at !== existing && st.holds(at, atGen)) this.drop(at);
    if (existing !== NONE) this.remove(existing);
    const s = st.take();
    st.fill(s, name, publicKey, secret, observed, ipKey, locals, now + this.ttlMs, mapping);
    this.byName.insert(s, this.nameHash(s));
    this.byAddr.insert(s, this.addrHashOf(s));
    this.joinRing(s);
    this.linkNewest(s);
    return { ok: true, reg: this.handle(s), moved: existing !== NONE && at !== existing, isNew: existing === NONE };
  }

  /** Extends the registration held at `observed`, if it is `name`'s and `secret` matches. */
  refresh(observed: Addr, name: string, secret: Uint8Array, now: number): Registration | undefined {
    const s = this.live(this.findAddr(parseIpv4(observed.ip), observed.ip, observed.port), now);
    if (s === NONE || !this.slots.nameIs(s, name) || !this.slots.secretIs(s, secret)) return undefined;
    this.slots.expires[s] = now + this.ttlMs;
    this.unlink(s);
    this.linkNewest(s);
    this.touchRing(s);
    return this.handle(s);
  }

  /** Removes `name` if it is held at `observed` with `secret`. "absent": nothing is registered there (a repeat). */
  unregister(observed: Addr, name: string, secret: Uint8Array, now: number): "removed" | "absent" | "mismatch" {
    const s = this.live(this.findAddr(parseIpv4(observed.ip), observed.ip, observed.port), now);
    if (s === NONE) return "absent";
    if (!this.slots.nameIs(s, name) || !this.slots.secretIs(s, secret)) return "mismatch";
    this.remove(s);
    return "removed";
  }

  /** Removes `name` if `publicKey` holds it (it registered at another server instance); true if removed. */
  forget(name: string, publicKey: Uint8Array): boolean {
    const s = this.findName(name);
    if (s === NONE || !this.slots.keyIs(s, publicKey)) return false;
    this.remove(s);
    return true;
  }

  lookup(name: string, now: number): Registration | undefined {
    const s = this.live(this.findName(name), now);
    return s === NONE ? undefined : this.handle(s);
  }

  byAddress(observed: Addr, now: number): Registration | undefined {
    const s = this.live(this.findAddr(parseIpv4(observed.ip), observed.ip, observed.port), now);
    return s === NONE ? undefined : this.handle(s);
  }

  /** Every registration held (expired ones too until swept), least recently refreshed first. */
  *entries(): Generator<Registration> {
    for (let s = this.oldest; s !== NONE; s = this.slots.newer[s]!) yield this.handle(s);
  }

  /** Drops expired registrations; returns how many. */
  sweep(now: number): number {
    let n = 0;
    while (this.oldest !== NONE && this.slots.expires[this.oldest]! <= now) {
      this.drop(this.oldest);
      n++;
    }
    return n;
  }

  /**
   * Full (globally or for one IP): evict `oldest`, the least recently
   * refreshed entry of the two, if it has missed its keepalives (clients
   * refresh every 10 s; a flood's one-shot entries never do), so a flood
   * cannot lock live clients out for a whole TTL. Live clients are never evicted.
   */
  private evictSilent(oldest: number, now: number): boolean {
    if (oldest === NONE || now - (this.slots.expires[oldest]! - this.ttlMs) < this.evictSilentAfterMs) return false;
    this.drop(oldest);
    this.evicted++;
    return true;
  }

  private handle(s: number): Registration {
    return new Registration(this.slots, s, this.slots.gen[s]!);
  }

  /** `s` unless it has expired (then it is removed): NONE stays NONE. */
  private live(s: number, now: number): number {
    if (s === NONE || this.slots.expires[s]! > now) return s;
    this.remove(s);
    return NONE;
  }

  /** Removes a registration that ends without its client asking (expired, evicted, or its address taken by another name). */
  private drop(s: number): void {
    this.onDropped?.(this.slots.nameOf(s), this.slots.publicKeyOf(s));
    this.remove(s);
  }

  private remove(s: number): void {
    this.byName.remove(s, this.nameHash(s));
    this.byAddr.remove(s, this.addrHashOf(s));
    this.leaveRing(s);
    this.unlink(s);
    this.slots.release(s);
  }

  // ---- hashing and finding ----

  private nameHash(s: number): number {
    const b = this.slots.nameBytes(s);
    return b ? hashBytes(this.seed, b, 0, b.length) : hashText(this.seed, this.slots.nameOf(s));
  }

  private addrHash(v4: number, ip: string, port: number): number {
    return hashNumbers(this.seed, v4 < 0 ? hashText(this.seed, ip) : v4, port);
  }

  private addrHashOf(s: number): number {
    const st = this.slots;
    return st.wide[s] ? this.addrHash(-1, st.spill.get(s)!.ip!, st.port[s]!) : this.addrHash(st.ip[s]!, "", st.port[s]!);
  }

  /** IPv4 and IPv6 units hash apart (the port-less 65536 cannot be an IPv4 address's). */
  private ipHash(v4: number, ipKey: string): number {
    return v4 < 0 ? hashText(this.seed, ipKey) : hashNumbers(this.seed, v4, 65536);
  }

  private ipHashOf(s: number): number {
    return this.ipHash(this.slots.wide[s] ? -1 : this.slots.ip[s]!, this.slots.groupOf(s));
  }

  private findName(name: string): number {
    let s = this.byName.first(hashText(this.seed, name));
    while (s !== NONE && !this.slots.nameIs(s, name)) s = this.byName.after(s);
    return s;
  }

  private findAddr(v4: number, ip: string, port: number): number {
    let s = this.byAddr.first(this.addrHash(v4, ip, port));
    while (s !== NONE && !this.slots.observedIs(s, v4, ip, port)) s = this.byAddr.after(s);
    return s;
  }

  /** The oldest slot of the source IP's ring, or NONE. `ipKey`: ipLimitKey(ip) when the IP is not IPv4. */
  private findIp(v4: number, ipKey: string): number {
    let s = this.byIp.first(this.ipHash(v4, ipKey));
    while (s !== NONE && !this.slots.groupIs(s, v4, ipKey)) s = this.byIp.after(s);
    return s;
  }

  private ringOf(s: number): number {
    return this.findIp(this.slots.wide[s] ? -1 : this.slots.ip[s]!, this.slots.groupOf(s));
  }

  // ---- the refresh-order list and the per-IP rings ----

  private linkNewest(s: number): void {
    const st = this.slots;
    st.older[s] = this.newest;
    st.newer[s] = NONE;
    if (this.newest === NONE) this.oldest = s;
    else st.newer[this.newest] = s;
    this.newest = s;
  }

  private unlink(s: number): void {
    const st = this.slots;
    const o = st.older[s]!;
    const n = st.newer[s]!;
    if (o === NONE) this.oldest = n;
    else st.newer[o] = n;
    if (n === NONE) this.newest = o;
    else st.older[n] = o;
  }

  /** Adds `s` as the newest of its IP's ring (a ring: the oldest's older is the newest). */
  private joinRing(s: number): void {
    const st = this.slots;
    const first = this.ringOf(s);
    if (first === NONE) {
      st.ipOlder[s] = st.ipNewer[s] = s;
      st.ipCount[s] = 1;
      this.byIp.insert(s, this.ipHashOf(s));
      return;
    }
    const last = st.ipOlder[first]!;
    st.ipNewer[last] = s;
    st.ipOlder[s] = last;
    st.ipNewer[s] = first;
    st.ipOlder[first] = s;
    st.ipCount[first]!++;
  }

  private leaveRing(s: number): void {
    const st = this.slots;
    const first = this.ringOf(s);
    const count = st.ipCount[first]!;
    if (count === 1) return this.byIp.remove(s, this.ipHashOf(s));
    const o = st.ipOlder[s]!;
    const n = st.ipNewer[s]!;
    st.ipNewer[o] = n;
    st.ipOlder[n] = o;
    if (s !== first) st.ipCount[first] = count - 1;
    else this.passRing(s, n, count - 1);
  }

  /** Makes `s` the newest of its IP's ring. */
  private touchRing(s: number): void {
    const st = this.slots;
    const first = this.ringOf(s);
    if (st.ipOlder[first] === s) return; // already the newest (or alone)
    if (s === first) return this.passRing(s, st.ipNewer[s]!, st.ipCount[s]!); // the ring turns one step
    this.leaveRing(s);
    this.joinRing(s);
  }

  /** The ring's oldest is now `next` (it takes over the count and the index entry). */
  private passRing(s: number, next: number, count: number): void {
    this.slots.ipCount[next] = count;
    this.byIp.swap(s, next, this.ipHashOf(s));
  }
}
