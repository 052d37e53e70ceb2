// A dual-stack client's second observed address: the one it proved (cookie
// + signature, Register.additional) in the other address family than its
// registration's. Introductions offer it as a second OBSERVED candidate, so
// two IPv6 hosts can punch through their stateful firewalls even when they
// registered over IPv4.
//
// An entry belongs to one registration instance (its secret): a new
// registration of the name (new secret) silently voids it. It lives as long
// as keepalives refresh it, with the registration's TTL. At most one per
// name, and only names with a live registration get one, so the table is
// bounded by the registry. Refreshing re-inserts, so the oldest entry is
// first and the sweep stops at the first live one.
import { equalBytes } from "../crypto/kdf.ts";
import type { Addr } from "../net/address.ts";

interface Entry {
  addr: Addr;
  /** The secret of the registration it belongs to. */
  secret: Uint8Array;
  expiresAt: number;
}

export class SecondAddresses {
  private readonly byName = new Map<string, Entry>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.byName.size;
  }

  set(name: string, addr: Addr, secret: Uint8Array, now: number): void {
    this.byName.delete(name);
    this.byName.set(name, { addr, secret, expiresAt: now + this.ttlMs });
  }

  /** The second address of this registration instance, if it has a live one. */
  get(reg: { name: string; secret: Uint8Array }, now: number): Addr | undefined {
    const e = this.byName.get(reg.name);
    if (!e) return undefined;
    if (e.expiresAt <= now || !equalBytes(e.secret, reg.secret)) {
      this.byName.delete(reg.name);
      return undefined;
    }
    return e.addr;
  }

  /** The registration was refreshed: so is its second address. */
  refresh(reg: { name: string; secret: Uint8Array }, now: number): void {
    const e = this.byName.get(reg.name);
    if (!e || !equalBytes(e.secret, reg.secret)) return;
    this.set(reg.name, e.addr, e.secret, now);
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  sweep(now: number): void {
    for (const [name, e] of this.byName) {
      if (e.expiresAt > now) break;
      this.byName.delete(name);
    }
  }
}
