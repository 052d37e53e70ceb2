// name -> registration, with a size cap and TTL expiry. O(1) lookups by name
// and by observed address. Map iteration order is insertion order and every
// refresh re-inserts, so the oldest entry is always first: sweeping expired
// entries stops at the first live one (amortised O(1) per entry).
import type { Addr } from "../net/address.ts";
import { addrKey, ipLimitKey } from "../net/address.ts";
import { equalBytes } from "../crypto/kdf.ts";

export interface Registration {
  name: string;
  /** The Ed25519 key the name is bound to while registered. */
  publicKey: Uint8Array;
  /** Authenticates this registration's later requests and its Initiates. */
  secret: Uint8Array;
  observed: Addr;
  locals: Addr[];
  expiresAt: number;
  /** The client's NAT mapping as it last reported it (MappingKind; 0 = unknown). */
  mapping: number;
}

export type RegisterResult =
  | { ok: true; reg: Registration; moved: boolean; isNew: boolean }
  | { ok: false; code: "NAME_TAKEN" | "REGISTRY_FULL" | "TOO_MANY_FROM_IP" };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return equalBytes(a, b);
}

export class Registry {
  private byName = new Map<string, Registration>();
  private byAddr = new Map<string, Registration>();
  /** Live registrations per source IP (at most maxPerIp), least recently refreshed first. */
  private perIp = new Map<string, Set<Registration>>();

  /** Registrations evicted to make room (see register()). */
  evicted = 0;

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
    readonly maxPerIp: number = Number.POSITIVE_INFINITY,
    /** When full, the least recently refreshed entry may be evicted once it has been silent this long. */
    readonly evictSilentAfterMs: number = Number.POSITIVE_INFINITY,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /**
   * Registers or refreshes `name` at `observed` for `publicKey`. The same key
   * may re-register from anywhere (restart, NAT rebinding); another key is
   * refused while the name is live.
   */
  register(name: string, publicKey: Uint8Array, secret: Uint8Array, observed: Addr, locals: Addr[], now: number): RegisterResult {
    const existing = this.lookup(name, now);
    if (existing && !sameBytes(existing.publicKey, publicKey)) return { ok: false, code: "NAME_TAKEN" };
    // The same key again from the same address (a retransmission, a second Challenge
    // answered): keep the secret the client may already hold.
    if (existing && addrKey(existing.observed) === addrKey(observed)) secret = existing.secret;
    const key = addrKey(observed);
    const previousAtAddr = this.byAddress(observed, now);
    if (!existing) {
      if (this.byName.size >= this.maxClients) this.sweep(now);
      if (this.byName.size >= this.maxClients && !this.evictSilent(this.byName.values(), now)) return { ok: false, code: "REGISTRY_FULL" };
      const sameIp = this.perIp.get(ipLimitKey(observed.ip));
      const count = (sameIp?.size ?? 0) - (previousAtAddr ? 1 : 0);
      if (count >= this.maxPerIp && !this.evictSilent(sameIp!.values(), now)) return { ok: false, code: "TOO_MANY_FROM_IP" };
    }
    // One address holds one registration: whoever registers from it now owns it.
    if (previousAtAddr && previousAtAddr !== existing) this.remove(previousAtAddr);
    const moved = existing !== undefined && addrKey(existing.observed) !== key;
    if (existing) this.remove(existing);
    const reg: Registration = { name, publicKey, secret, observed, locals, expiresAt: now + this.ttlMs, mapping: existing?.mapping ?? 0 };
    this.byName.set(name, reg);
    this.byAddr.set(key, reg);
    this.touchIp(reg);
    return { ok: true, reg, moved, isNew: existing === undefined };
  }

  /** Extends the registration held at `observed`, if it is `name`'s and `secret` matches. */
  refresh(observed: Addr, name: string, secret: Uint8Array, now: number): Registration | undefined {
    const reg = this.byAddress(observed, now);
    if (!reg || reg.name !== name || !sameBytes(reg.secret, secret)) return undefined;
    reg.expiresAt = now + this.ttlMs;
    this.byName.delete(name);
    this.byName.set(name, reg);
    this.touchIp(reg);
    return reg;
  }

  /** Removes `name` if it is held at `observed` with `secret`. "absent": nothing is registered there (a repeat). */
  unregister(observed: Addr, name: string, secret: Uint8Array, now: number): "removed" | "absent" | "mismatch" {
    const reg = this.byAddress(observed, now);
    if (!reg) return "absent";
    if (reg.name !== name || !sameBytes(reg.secret, secret)) return "mismatch";
    this.remove(reg);
    return "removed";
  }

  lookup(name: string, now: number): Registration | undefined {
    const reg = this.byName.get(name);
    if (reg && reg.expiresAt <= now) {
      this.remove(reg);
      return undefined;
    }
    return reg;
  }

  byAddress(observed: Addr, now: number): Registration | undefined {
    const reg = this.byAddr.get(addrKey(observed));
    if (reg && reg.expiresAt <= now) {
      this.remove(reg);
      return undefined;
    }
    return reg;
  }

  /**
   * Full (globally or for one IP): evict the least recently refreshed entry
   * of `oldestFirst` if it has missed its keepalives (clients refresh every
   * 10 s; a flood's one-shot entries never do), so a flood cannot lock live
   * clients out for a whole TTL. Live clients are never evicted.
   */
  private evictSilent(oldestFirst: Iterator<Registration>, now: number): boolean {
    const oldest = oldestFirst.next();
    if (oldest.done || now - (oldest.value.expiresAt - this.ttlMs) < this.evictSilentAfterMs) return false;
    this.remove(oldest.value);
    this.evicted++;
    return true;
  }

  /** Moves `reg` to the most recently refreshed end of its IP's set. */
  private touchIp(reg: Registration): void {
    const ipKey = ipLimitKey(reg.observed.ip);
    let set = this.perIp.get(ipKey);
    if (!set) this.perIp.set(ipKey, (set = new Set()));
    set.delete(reg);
    set.add(reg);
  }

  /** Drops expired registrations; returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const reg of this.byName.values()) {
      if (reg.expiresAt > now) break;
      this.remove(reg);
      n++;
    }
    return n;
  }

  private remove(reg: Registration): void {
    if (this.byName.get(reg.name) !== reg) return;
    this.byName.delete(reg.name);
    const key = addrKey(reg.observed);
    if (this.byAddr.get(key) === reg) this.byAddr.delete(key);
    const ipKey = ipLimitKey(reg.observed.ip);
    const set = this.perIp.get(ipKey);
    set?.delete(reg);
    if (set?.size === 0) this.perIp.delete(ipKey);
  }
}
