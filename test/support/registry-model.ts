// The registry's reference model for differential tests: the plain
// Map-based implementation the typed-array Registry replaced (one object per
// registration, Maps in refresh order, a Set per source IP), kept as the
// specification of its behaviour.
import { equalBytes } from "../../src/crypto/kdf.ts";
import { addrKey, ipLimitKey, type Addr } from "../../src/net/address.ts";

export interface ModelReg {
  name: string;
  publicKey: Uint8Array;
  secret: Uint8Array;
  observed: Addr;
  locals: Addr[];
  expiresAt: number;
  mapping: number;
}

export type ModelResult =
  | { ok: true; reg: ModelReg; moved: boolean; isNew: boolean }
  | { ok: false; code: "NAME_TAKEN" | "REGISTRY_FULL" | "TOO_MANY_FROM_IP" };

export class RegistryModel {
  private byName = new Map<string, ModelReg>();
  private byAddr = new Map<string, ModelReg>();
  private perIp = new Map<string, Set<ModelReg>>();
  evicted = 0;

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
    readonly maxPerIp: number,
    readonly evictSilentAfterMs: number,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /** Oldest refresh first. */
  entries(): ModelReg[] {
    return [...this.byName.values()];
  }

  /** Whether `reg` is still held (not removed, not replaced). */
  holds(reg: ModelReg): boolean {
    return this.byName.get(reg.name) === reg;
  }

  register(name: string, publicKey: Uint8Array, secret: Uint8Array, observed: Addr, locals: Addr[], now: number): ModelResult {
    const existing = this.lookup(name, now);
    if (existing && !equalBytes(existing.publicKey, publicKey)) return { ok: false, code: "NAME_TAKEN" };
    if (existing && addrKey(existing.observed) === addrKey(observed)) secret = existing.secret;
    const key = addrKey(observed);
    const previousAtAddr = this.byAddress(observed, now);
    if (!existing) {
      if (this.byName.size >= this.maxClients) this.sweep(now);
      if (this.byName.size >= this.maxClients && !this.evictSilent(this.byName.values(), now)) return { ok: false, code: "REGISTRY_FULL" };
      const sameIp = this.perIp.get(ipLimitKey(observed.ip));
      const count = (sameIp?.size ?? 0) - (previousAtAddr ? 1 : 0);
      if (count >= this.maxPerIp && !this.evictSilent((sameIp ?? new Set<ModelReg>()).values(), now)) return { ok: false, code: "TOO_MANY_FROM_IP" };
    }
    if (previousAtAddr && previousAtAddr !== existing) this.remove(previousAtAddr);
    const moved = existing !== undefined && addrKey(existing.observed) !== key;
    if (existing) this.remove(existing);
    const reg: ModelReg = { name, publicKey, secret, observed, locals, expiresAt: now + this.ttlMs, mapping: existing?.mapping ?? 0 };
    this.byName.set(name, reg);
    this.byAddr.set(key, reg);
    this.touchIp(reg);
    return { ok: true, reg, moved, isNew: existing === undefined };
  }

  refresh(observed: Addr, name: string, secret: Uint8Array, now: number): ModelReg | undefined {
    const reg = this.byAddress(observed, now);
    if (!reg || reg.name !== name || !equalBytes(reg.secret, secret)) return undefined;
    reg.expiresAt = now + this.ttlMs;
    this.byName.delete(name);
    this.byName.set(name, reg);
    this.touchIp(reg);
    return reg;
  }

  unregister(observed: Addr, name: string, secret: Uint8Array, now: number): "removed" | "absent" | "mismatch" {
    const reg = this.byAddress(observed, now);
    if (!reg) return "absent";
    if (reg.name !== name || !equalBytes(reg.secret, secret)) return "mismatch";
    this.remove(reg);
    return "removed";
  }

  lookup(name: string, now: number): ModelReg | undefined {
    const reg = this.byName.get(name);
    if (reg && reg.expiresAt <= now) {
      this.remove(reg);
      return undefined;
    }
    return reg;
  }

  byAddress(observed: Addr, now: number): ModelReg | undefined {
    const reg = this.byAddr.get(addrKey(observed));
    if (reg && reg.expiresAt <= now) {
      this.remove(reg);
      return undefined;
    }
    return reg;
  }

  sweep(now: number): number {
    let n = 0;
    for (const reg of this.byName.values()) {
      if (reg.expiresAt > now) break;
      this.remove(reg);
      n++;
    }
    return n;
  }

  private evictSilent(oldestFirst: Iterator<ModelReg>, now: number): boolean {
    const oldest = oldestFirst.next();
    if (oldest.done || now - (oldest.value.expiresAt - this.ttlMs) < this.evictSilentAfterMs) return false;
    this.remove(oldest.value);
    this.evicted++;
    return true;
  }

  private touchIp(reg: ModelReg): void {
    const ipKey = ipLimitKey(reg.observed.ip);
    let set = this.perIp.get(ipKey);
    if (!set) this.perIp.set(ipKey, (set = new Set()));
    set.delete(reg);
    set.add(reg);
  }

  private remove(reg: ModelReg): void {
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
