// Registrations as rows ("slots") of typed-array columns instead of one
// object graph each. Measured on Bun 1.4.4 at 1M registrations (see
// scripts/bench/memory.ts): the object form (a Registration, its name
// string, two Uint8Arrays, an Addr, two Map entries and a Set per IP) cost
// ~1.1 KB of RSS per client; these columns and the registry's three
// SlotIndexes ~170 B. Columns start small and double, so a small server
// does not pay for a million slots.
//
// A slot's generation is odd while it holds a registration and changes
// whenever the slot is freed or taken: a handle (slot, generation) can tell
// its registration from a later occupant of the same slot.
//
// The fixed-size parts live in the columns; the rare variable ones (an
// observed address that is not plain IPv4, a name that is not 1–32 Latin-1
// characters, LAN candidates beyond two IPv4 endpoints) in `spill`, a Map
// keyed by slot that only such registrations pay for.
import { KEY_BYTES, SECRET_BYTES } from "../constants.ts";
import { equalBytes } from "../crypto/kdf.ts";
import type { Addr } from "../net/address.ts";
import { NONE } from "./slot-index.ts";

const ROW_BYTES = KEY_BYTES + SECRET_BYTES;
const NAME_BYTES = 32;
const INLINE_LOCALS = 2;
/** nameLen / localCount value: the field is in `spill`. */
const SPILLED = 255;
const INITIAL_CAPACITY = 1024;

/** The optional, variable-size parts of a registration. New optional per-registration fields belong here. */
export interface Spill {
  /** The name, when it is not 1–32 Latin-1 characters. */
  name?: string;
  /** The observed IP and its rate-limit unit (ipLimitKey), when it is not a canonical IPv4 address. */
  ip?: string;
  group?: string;
  /** The LAN candidates, when they are not at most two IPv4 endpoints. */
  locals?: Addr[];
}

/** Canonical dotted IPv4 ("10.0.0.1", no leading zeros) -> 0..2^32-1; -1 for anything else. */
export function parseIpv4(ip: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + c - 48;
      digits++;
      if (part > 255) return -1;
    } else return -1;
  }
  return digits === 0 || dots !== 3 ? -1 : value * 256 + part;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Throws on what the columns cannot hold, before anything is changed. */
export function checkFields(publicKey: Uint8Array, secret: Uint8Array, observed: Addr, locals: Addr[]): void {
  if (publicKey.length !== KEY_BYTES || secret.length !== SECRET_BYTES) throw new RangeError("a registration has a 32-byte key and a 16-byte secret");
  if (!isPort(observed.port) || !locals.every((l) => isPort(l.port))) throw new RangeError("ports are 0-65535");
}

function grown<T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

export class SlotStore {
  capacity = 0;
  size = 0;
  /** Public key (32 B) then secret (16 B). */
  keys = new Uint8Array(0);
  names = new Uint8Array(0);
  nameLen = new Uint8Array(0);
  expires = new Float64Array(0);
  mapping = new Int32Array(0);
  gen = new Uint32Array(0);
  /** Observed address: IPv4 and port, or (wide = 1) the IP is in spill. */
  ip = new Uint32Array(0);
  port = new Uint16Array(0);
  wide = new Uint8Array(0);
  localIp = new Uint32Array(0);
  localPort = new Uint16Array(0);
  localCount = new Uint8Array(0);
  /** Links of the registry's lists: global refresh order (also the free list), and per-IP rings. */
  older = new Int32Array(0);
  newer = new Int32Array(0);
  ipOlder = new Int32Array(0);
  ipNewer = new Int32Array(0);
  /** Members of an IP's ring, kept at its oldest member. */
  ipCount = new Int32Array(0);
  readonly spill = new Map<number, Spill>();
  private freeHead = NONE;
  /** Slots [0, fresh) have been handed out at least once. */
  private fresh = 0;

  /** At most `maxSlots` slots; `grew` is told the new capacity whenever the columns grow. */
  constructor(
    private readonly maxSlots: number,
    private readonly grew: (capacity: number) => void,
  ) {
    this.resize(Math.max(1, Math.min(INITIAL_CAPACITY, maxSlots)));
  }

  /** A free slot, its generation made odd (taken), the columns grown if needed. */
  take(): number {
    let s = this.freeHead;
    if (s !== NONE) this.freeHead = this.newer[s]!;
    else {
      if (this.fresh === this.capacity) {
        this.resize(Math.max(this.capacity + 1, Math.min(this.capacity * 2, this.maxSlots)));
        this.grew(this.capacity);
      }
      s = this.fresh++;
    }
    this.gen[s] = this.gen[s]! + 1;
    this.size++;
    return s;
  }

  /** Returns `s` to the free list; its generation becomes even and its spill is dropped. */
  release(s: number): void {
    this.gen[s] = this.gen[s]! + 1;
    this.spill.delete(s);
    this.newer[s] = this.freeHead;
    this.freeHead = s;
    this.size--;
  }

  /** True while `s` still holds the registration it held at generation `g`. */
  holds(s: number, g: number): boolean {
    return (g & 1) === 1 && this.gen[s] === g;
  }

  private resize(n: number): void {
    this.keys = grown(this.keys, n * ROW_BYTES);
    this.names = grown(this.names, n * NAME_BYTES);
    this.localIp = grown(this.localIp, n * INLINE_LOCALS);
    this.localPort = grown(this.localPort, n * INLINE_LOCALS);
    for (const c of ["nameLen", "expires", "mapping", "gen", "ip", "port", "wide", "localCount", "older", "newer", "ipOlder", "ipNewer", "ipCount"] as const) {
      (this as Record<typeof c, SlotStore[typeof c]>)[c] = grown(this[c], n);
    }
    this.capacity = n;
  }

  private spillOf(s: number): Spill {
    let x = this.spill.get(s);
    if (!x) this.spill.set(s, (x = {}));
    return x;
  }

  /** Writes every field of a freshly taken slot (checkFields first). `group` is ipLimitKey(observed.ip) when that is not IPv4. */
  fill(s: number, name: string, publicKey: Uint8Array, secret: Uint8Array, observed: Addr, group: string, locals: Addr[], expiresAt: number, mapping: number): void {
    this.keys.set(publicKey, s * ROW_BYTES);
    this.keys.set(secret, s * ROW_BYTES + KEY_BYTES);
    this.setName(s, name);
    const v4 = parseIpv4(observed.ip);
    this.wide[s] = v4 < 0 ? 1 : 0;
    this.ip[s] = v4 < 0 ? 0 : v4;
    this.port[s] = observed.port;
    if (v4 < 0) Object.assign(this.spillOf(s), { ip: observed.ip, group });
    this.setLocals(s, locals);
    this.expires[s] = expiresAt;
    this.mapping[s] = mapping;
  }

  private setName(s: number, name: string): void {
    let inline = name.length <= NAME_BYTES;
    for (let i = 0; inline && i < name.length; i++) inline = name.charCodeAt(i) < 256;
    if (!inline) {
      this.nameLen[s] = SPILLED;
      this.spillOf(s).name = name;
      return;
    }
    for (let i = 0; i < name.length; i++) this.names[s * NAME_BYTES + i] = name.charCodeAt(i);
    this.nameLen[s] = name.length;
  }

  private setLocals(s: number, locals: Addr[]): void {
    const v4 = locals.map((l) => parseIpv4(l.ip));
    if (locals.length > INLINE_LOCALS || v4.some((v) => v < 0)) {
      this.localCount[s] = SPILLED;
      this.spillOf(s).locals = locals.map((l) => ({ ip: l.ip, port: l.port }));
      return;
    }
    locals.forEach((l, i) => {
      this.localIp[s * INLINE_LOCALS + i] = v4[i]!;
      this.localPort[s * INLINE_LOCALS + i] = l.port;
    });
    this.localCount[s] = locals.length;
  }

  nameOf(s: number): string {
    const n = this.nameLen[s]!;
    if (n === SPILLED) return this.spill.get(s)!.name!;
    return String.fromCharCode.apply(null, this.names.subarray(s * NAME_BYTES, s * NAME_BYTES + n) as unknown as number[]);
  }

  nameIs(s: number, name: string): boolean {
    const n = this.nameLen[s]!;
    if (n === SPILLED) return this.spill.get(s)!.name === name;
    if (n !== name.length) return false;
    for (let i = 0, o = s * NAME_BYTES; i < n; i++) if (this.names[o + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  /** The inline name's bytes (char codes), or undefined when it is in spill. */
  nameBytes(s: number): Uint8Array | undefined {
    const n = this.nameLen[s]!;
    return n === SPILLED ? undefined : this.names.subarray(s * NAME_BYTES, s * NAME_BYTES + n);
  }

  publicKeyOf(s: number): Uint8Array {
    return this.keys.slice(s * ROW_BYTES, s * ROW_BYTES + KEY_BYTES);
  }

  secretOf(s: number): Uint8Array {
    return this.keys.slice(s * ROW_BYTES + KEY_BYTES, (s + 1) * ROW_BYTES);
  }

  keyIs(s: number, publicKey: Uint8Array): boolean {
    return equalBytes(this.keys.subarray(s * ROW_BYTES, s * ROW_BYTES + KEY_BYTES), publicKey);
  }

  /** Constant time, like the comparison it replaces. */
  secretIs(s: number, secret: Uint8Array): boolean {
    return equalBytes(this.keys.subarray(s * ROW_BYTES + KEY_BYTES, (s + 1) * ROW_BYTES), secret);
  }

  observedOf(s: number): Addr {
    return { ip: this.wide[s] ? this.spill.get(s)!.ip! : formatIpv4(this.ip[s]!), port: this.port[s]! };
  }

  /** Whether `s` is observed at (v4 = parseIpv4(ip), ip, port). */
  observedIs(s: number, v4: number, ip: string, port: number): boolean {
    if (this.port[s] !== port) return false;
    return v4 >= 0 ? this.wide[s] === 0 && this.ip[s] === v4 : this.wide[s] === 1 && this.spill.get(s)!.ip === ip;
  }

  /** Whether `s` counts against the same per-IP limit as (v4, group) (see groupOf). */
  groupIs(s: number, v4: number, group: string): boolean {
    return v4 >= 0 ? this.wide[s] === 0 && this.ip[s] === v4 : this.wide[s] === 1 && this.spill.get(s)!.group === group;
  }

  /** The rate-limit unit of a wide slot ("" for IPv4 ones: their unit is ip[s]). */
  groupOf(s: number): string {
    return this.wide[s] ? this.spill.get(s)!.group! : "";
  }

  localsOf(s: number): Addr[] {
    const n = this.localCount[s]!;
    if (n === SPILLED) return this.spill.get(s)!.locals!.map((l) => ({ ip: l.ip, port: l.port }));
    const out: Addr[] = [];
    for (let i = s * INLINE_LOCALS; i < s * INLINE_LOCALS + n; i++) out.push({ ip: formatIpv4(this.localIp[i]!), port: this.localPort[i]! });
    return out;
  }
}
