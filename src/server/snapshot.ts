// A running server's report on itself (ServerSnapshot), read from its
// Rendezvous: the input of /metrics, /healthz and the status page.
import { VERSION } from "../version.ts";
import type { ServerSnapshot } from "../ops/snapshot.ts";
import type { Rendezvous } from "./rendezvous.ts";

const CLUSTER_SENT = "cluster_sent_";
const CLUSTER_RECEIVED = "cluster_received_";

export function snapshotOf(core: Rendezvous, startedAtMs: number, instance: string): ServerSnapshot {
  const all = core.stats.snapshot();
  const counters: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const received: Record<string, number> = {};
  for (const [k, v] of Object.entries(all)) {
    if (typeof v !== "number") continue;
    if (k.startsWith(CLUSTER_SENT)) sent[k.slice(CLUSTER_SENT.length)] = v;
    else if (k.startsWith(CLUSTER_RECEIVED)) received[k.slice(CLUSTER_RECEIVED.length)] = v;
    else counters[k] = v;
  }
  const port = core.cluster?.port;
  return {
    version: VERSION,
    nowMs: Date.now(),
    startedAtMs,
    registrations: core.registry.size,
    relaySessions: core.relays?.size ?? 0,
    counters,
    dropped: (all.dropped_by_reason ?? {}) as Record<string, number>,
    punches: core.punchTotals,
    cluster: { mode: port ? "redis" : "memory", instance, redisUp: port ? port.up : true, sent, received },
  };
}
