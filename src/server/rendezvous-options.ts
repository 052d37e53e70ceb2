// What a Rendezvous is made with: its I/O, clock, limits and policies.
import type { Logger } from "../log.ts";
import type { Addr } from "../net/address.ts";
import type { RelayLimits } from "./relay.ts";
import type { ClusterPort } from "./cluster-port.ts";

export interface RendezvousOptions {
  send: (bytes: Uint8Array, to: Addr) => void;
  now: () => number;
  randomBytes?: (n: number) => Uint8Array;
  log?: Logger;
  /** One instance of a cluster (hp-server --redis): shares registrations and introductions with the others. */
  cluster?: ClusterPort;
  /** Registry size cap (default 100,000). */
  maxClients?: number;
  /** Registration lifetime without refresh, ms (default 45 s). */
  ttlMs?: number;
  /** The main port (reported in NatProbeAck). */
  port?: number;
  /** Keepalive interval told to clients, ms (default 10 s). */
  keepaliveMs?: number;
  /** Requests per second per source IP (default 50, burst 100). */
  ratePerSecond?: number;
  rateBurst?: number;
  /** Names one source IP may hold (default 64). */
  maxPerIp?: number;
  /** Register and HolePunchRequest per second per name (default 10, burst 20). */
  ratePerName?: number;
  /** Private servers: only these name -> key pairs may register. */
  allow?: Map<string, Uint8Array>;
  /** Private servers: a Register must carry this token. */
  token?: string;
  /** Relay for peers that cannot punch (default on, with the limits in constants.ts); false turns it off. */
  relay?: Partial<RelayLimits> | false;
  /** This server's own IP addresses (it answers on the main port there), offered to clients for an additional registration in their other address family. */
  serverIps?: string[];
}
