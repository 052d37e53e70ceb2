// What a running server reports about itself: the one input of the metrics
// endpoint, /healthz and the status page (src/ops/). Plain data, taken at
// once by Rendezvous.snapshot() plus the runner's process and cluster facts.

export interface PunchTotals {
  /** Introductions with a fresh token (a retried request for the same pair is not a new punch). */
  started: number;
  /** First PunchReport per token, by outcome. */
  direct: number;
  relay: number;
  failed: number;
}

export interface ClusterFacts {
  mode: "memory" | "redis";
  /** This instance's id (hp-server --instance). */
  instance: string;
  /** Redis reachable right now (always true in memory mode). */
  redisUp: boolean;
  /** Messages this instance published to / received from other instances, by kind (introduce, relay, forget). */
  sent: Record<string, number>;
  received: Record<string, number>;
}

export interface ServerSnapshot {
  version: string;
  /** Wall clock, ms since the epoch. */
  nowMs: number;
  startedAtMs: number;
  /** Live registrations held by this instance. */
  registrations: number;
  /** Relay sessions open at this instance. */
  relaySessions: number;
  /** Every Stats counter (received, sent, register_ok, keepalive_ok, punch_initiated, relay_bytes, ...). */
  counters: Record<string, number>;
  /** Dropped datagrams by reason (rate_limited, malformed, amplification_guard, relay_quota, ...). */
  dropped: Record<string, number>;
  punches: PunchTotals;
  cluster: ClusterFacts;
}
