// An in-memory internet for the client/server state machines: hosts, NATs
// with RFC 4787 mapping behaviours, loss and latency, all on a ManualClock.
// Fast and deterministic (seeded); the real-NAT tests in test/nat/ check the
// same scenarios against Linux.
import { ManualClock } from "../../src/clock.ts";
import { addrKey, type Addr } from "../../src/net/address.ts";
import { prng } from "./prng.ts";

export type NatKind =
  | "cone" // endpoint-independent mapping, address+port-dependent filtering
  | "random" // a new random port per destination (endpoint-dependent mapping)
  | "sequential" // a new port per destination, each the last one + 1 (endpoint-dependent, predictable)
  | "dmz"; // endpoint-independent mapping, unsolicited inbound forwarded to the host

type Deliver = (bytes: Uint8Array, from: Addr) => void;

interface Nat {
  kind: NatKind;
  publicIp: string;
  lan: string; // prefix, e.g. "10.1.0."
  /** outbound key -> public port */
  out: Map<string, number>;
  /** public port -> inner endpoint and the remote endpoints it may hear from */
  in: Map<number, { inner: Addr; allowed: Set<string> }>;
  nextPort: number;
  dmzHost?: string;
}

/** A ManualClock whose deferred work (e.g. the transport's flush) runs inside advance(), at the current time. */
export class SimClock extends ManualClock {
  defer(fn: () => void): void {
    this.setTimer(0, fn);
  }
}

export class SimNet {
  readonly clock = new SimClock();
  private sockets = new Map<string, Deliver>();
  private nats: Nat[] = [];
  readonly random: () => number;
  sent = 0;
  lost = 0;
  /**
   * Sees every datagram as it leaves its sender (after NAT): return it (or a
   * modified copy) to deliver, or null to drop. For capture and tampering tests.
   */
  tap: ((bytes: Uint8Array, from: Addr, to: Addr) => Uint8Array | null) | undefined;
  /** Receives datagrams addressed to nobody (e.g. a flood's fake sources). */
  unbound: ((bytes: Uint8Array, from: Addr, to: Addr) => void) | undefined;

  constructor(
    public lossPercent = 0,
    public latencyMs = 5,
    seed = 1,
  ) {
    this.random = prng(seed);
  }

  addNat(kind: NatKind, publicIp: string, lan: string): void {
    this.nats.push({ kind, publicIp, lan, out: new Map(), in: new Map(), nextPort: 20000 });
  }

  /** Binds a socket; returns its send function. */
  bind(local: Addr, deliver: Deliver): (bytes: Uint8Array, to: Addr) => void {
    this.sockets.set(addrKey(local), deliver);
    const nat = this.nats.find((n) => local.ip.startsWith(n.lan));
    if (nat?.kind === "dmz") nat.dmzHost = local.ip;
    return (bytes, to) => this.send(local, nat, bytes, to);
  }

  private send(local: Addr, nat: Nat | undefined, bytes: Uint8Array, to: Addr): void {
    this.sent++;
    if (this.random() * 100 < this.lossPercent) {
      this.lost++;
      return;
    }
    let from = local;
    const sameLan = nat !== undefined && to.ip.startsWith(nat.lan);
    if (nat && !sameLan) {
      if (to.ip === nat.publicIp) return; // no hairpinning
      from = { ip: nat.publicIp, port: this.mapOut(nat, local, to) };
    }
    let copy: Uint8Array | null = bytes.slice();
    if (this.tap) copy = this.tap(copy, from, to);
    if (!copy) return;
    const out = copy;
    this.clock.setTimer(this.latencyMs, () => this.arrive(out, from, to));
  }

  unbind(local: Addr): void {
    this.sockets.delete(addrKey(local));
  }

  /** Open sockets (for tests that check extra sockets are closed). */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Delivers a datagram that claims to come from `from` (an off-path spoofer). */
  inject(bytes: Uint8Array, from: Addr, to: Addr): void {
    this.clock.setTimer(this.latencyMs, () => this.arrive(bytes, from, to));
  }

  private mapOut(nat: Nat, inner: Addr, to: Addr): number {
    const perDestination = nat.kind === "random" || nat.kind === "sequential";
    const key = perDestination ? `${addrKey(inner)}>${addrKey(to)}` : addrKey(inner);
    let port = nat.out.get(key);
    if (port === undefined) {
      port = nat.kind === "random" ? 30000 + Math.floor(this.random() * 30000) : nat.nextPort++;
      nat.out.set(key, port);
      nat.in.set(port, { inner, allowed: new Set() });
    }
    nat.in.get(port)!.allowed.add(addrKey(to));
    return port;
  }

  private arrive(bytes: Uint8Array, from: Addr, to: Addr): void {
    const nat = this.nats.find((n) => n.publicIp === to.ip);
    let dest = to;
    if (nat) {
      const m = nat.in.get(to.port);
      if (m && (m.allowed.has(addrKey(from)) || nat.kind === "dmz")) dest = m.inner;
      else if (nat.kind === "dmz" && nat.dmzHost) dest = { ip: nat.dmzHost, port: to.port };
      else return; // unsolicited: dropped by the NAT
    }
    const socket = this.sockets.get(addrKey(dest));
    if (socket) socket(bytes, from);
    else this.unbound?.(bytes, from, dest);
  }
}
