// Port prediction for one easy and one hard NAT, by the birthday paradox
// (as Tailscale describes it; "NAT traversal", 2020): the hard side (a new
// public port per destination) opens BIRTHDAY_SOCKETS extra sockets and
// probes the easy side's mapping from each, which opens that many random
// ports on its NAT toward the easy side; the easy side (one mapping, but a
// port-restricted filter) probes random ports of the hard side's address,
// each of which also opens its own filter for that port. With 256 open ports
// out of ~64,000, 2,048 random probes miss all of them with probability
// (1 - 256/64512)^2048 ≈ e^-8: about 99.97 % find a pair. Paced per round,
// bounded in probes and time; the link stops it the moment a path works.
// Pure: it only says whom to probe, from which socket.
import { BIRTHDAY_DURATION, BIRTHDAY_PROBES_PER_ROUND, BIRTHDAY_SOCKETS, BIRTHDAY_SPRAY_MAX } from "../constants.ts";
import type { Addr } from "../net/address.ts";

export type BirthdayRole = "open-many" | "spray";

export interface Probe {
  to: Addr;
  /** Extra socket to send from (open-many); undefined: the main socket. */
  via?: number;
}

const FIRST_PORT = 1024;
const PORTS = 65536 - FIRST_PORT;

export class BirthdayPlan {
  private sockets: number[] = [];
  private next = 0;
  private sprayed = new Set<number>();
  private sent = 0;

  constructor(
    readonly role: BirthdayRole,
    /** The peer's server-observed address (its mapping toward the server). */
    private readonly peer: Addr,
    private readonly startedAt: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** How many extra sockets the hard side needs. */
  static socketsWanted(role: BirthdayRole): number {
    return role === "open-many" ? BIRTHDAY_SOCKETS : 0;
  }

  /** The extra sockets, once bound. */
  useSockets(ids: number[]): void {
    this.sockets = ids;
  }

  get socketIds(): readonly number[] {
    return this.sockets;
  }

  done(now: number): boolean {
    return now - this.startedAt > BIRTHDAY_DURATION || this.sent >= BIRTHDAY_SPRAY_MAX;
  }

  /** The probes of one round. */
  round(now: number): Probe[] {
    if (this.done(now)) return [];
    const out: Probe[] = [];
    if (this.role === "open-many") {
      // Every socket keeps its mapping (and its filter toward the peer) open; cycle through them.
      for (let i = 0; i < Math.min(BIRTHDAY_PROBES_PER_ROUND, this.sockets.length); i++) {
        out.push({ to: this.peer, via: this.sockets[this.next++ % this.sockets.length] });
      }
      this.sent += out.length;
      return out;
    }
    while (out.length < BIRTHDAY_PROBES_PER_ROUND && this.sprayed.size < BIRTHDAY_SPRAY_MAX) {
      const port = FIRST_PORT + Math.floor(this.random() * PORTS);
      if (port === this.peer.port || this.sprayed.has(port)) continue;
      this.sprayed.add(port);
      out.push({ to: { ip: this.peer.ip, port } });
    }
    this.sent += out.length;
    return out;
  }
}
