// name -> registration, with a size cap and TTL expiry. O(1) lookups by name
// and by observed address. Map iteration order is insertion order and every
// refresh re-inserts, so the oldest entry is always first: sweeping expired
// entries stops at the first live one (amortised O(1) per entry).
import type { Addr } from "../net/address.ts";
import { addrKey } from "../net/address.ts";

export interface Registration {
  name: string;
  instance: Uint8Array;
  observed: Addr;
  locals: Addr[];
  expiresAt: number;
}

export type RegisterResult =
  | { ok: true; reg: Registration; moved: boolean; isNew: boolean }
  | { ok: false; code: "NAME_TAKEN" | "REGISTRY_FULL" };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Registry {
  private byName = new Map<string, Registration>();
  private byAddr = new Map<string, Registration>();

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /** Registers or refreshes `name` at `observed`. Same instance may move; another is refused. */
  register(name: string, instance: Uint8Array, observed: Addr, locals: Addr[], now: number): RegisterResult {
    const existing = this.lookup(name, now);
    if (existing && !sameBytes(existing.instance, instance)) return { ok: false, code: "NAME_TAKEN" };
    if (!existing && this.byName.size >= this.maxClients) {
      this.sweep(now);
      if (this.byName.size >= this.maxClients) return { ok: false, code: "REGISTRY_FULL" };
    }
    const key = addrKey(observed);
    // One address holds one registration: whoever registers from it now owns it.
    const previousAtAddr = this.byAddr.get(key);
    if (previousAtAddr && previousAtAddr !== existing) this.remove(previousAtAddr);
    const moved = existing !== undefined && addrKey(existing.observed) !== key;
    if (existing) this.remove(existing);
    const reg: Registration = { name, instance, observed, locals, expiresAt: now + this.ttlMs };
    this.byName.set(name, reg);
    this.byAddr.set(key, reg);
    return { ok: true, reg, moved, isNew: existing === undefined };
  }

  /** Extends the registration held at `observed`, if it is `name`'s with `instance`. */
  refresh(observed: Addr, name: string, instance: Uint8Array, now: number): Registration | undefined {
    const reg = this.byAddress(observed, now);
    if (!reg || reg.name !== name || !sameBytes(reg.instance, instance)) return undefined;
    reg.expiresAt = now + this.ttlMs;
    this.byName.delete(name);
    this.byName.set(name, reg);
    return reg;
  }

  /** Removes `name` if it is held at `observed` by `instance`. "absent": nothing is registered there (a repeat). */
  unregister(observed: Addr, name: string, instance: Uint8Array, now: number): "removed" | "absent" | "mismatch" {
    const reg = this.byAddress(observed, now);
    if (!reg) return "absent";
    if (reg.name !== name || !sameBytes(reg.instance, instance)) return "mismatch";
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
    if (this.byName.get(reg.name) === reg) this.byName.delete(reg.name);
    const key = addrKey(reg.observed);
    if (this.byAddr.get(key) === reg) this.byAddr.delete(key);
  }
}
