// The last hour of the server, in fixed intervals, for the status page.
// Pure: no timers and no clock of its own. Whoever owns the timer (the ops
// HTTP server) calls sample(snapshot) about every intervalMs; the clock is
// the snapshot's own nowMs, so tests drive it with made-up snapshots.
//
// A point holds what happened during one interval: deltas of the punch and
// relay-byte counters, and the gauges (registrations, relay sessions) as
// they were at its end. A counter that went down, or a changed startedAtMs,
// means the server restarted: the delta is then the whole new value (as
// Prometheus' rate() treats a counter reset).
import { second } from "../constants.ts";
import type { ServerSnapshot } from "./snapshot.ts";

const minute = 60 * second;
const hour = 60 * minute;

/** How often the ops server samples (and the width of one chart bar). */
export const HISTORY_INTERVAL = 10 * second;
/** How far back the history reaches. */
export const HISTORY_KEEP = 1 * hour;

export interface HistoryPoint {
  /** Wall clock at the end of the interval, ms since the epoch. */
  endMs: number;
  /** Length of the interval in ms (about intervalMs; longer after a stall). */
  spanMs: number;
  /** Punches started / succeeded direct / succeeded via relay / failed during the interval. */
  started: number;
  direct: number;
  relay: number;
  failed: number;
  /** Bytes relayed during the interval. */
  relayBytes: number;
  /** Gauges at the end of the interval. */
  registrations: number;
  relaySessions: number;
}

/** The counters a point is the difference of, as read from a snapshot. */
interface Reading {
  nowMs: number;
  startedAtMs: number;
  started: number;
  direct: number;
  relay: number;
  failed: number;
  relayBytes: number;
}

const read = (s: ServerSnapshot): Reading => ({
  nowMs: s.nowMs,
  startedAtMs: s.startedAtMs,
  started: s.punches.started,
  direct: s.punches.direct,
  relay: s.punches.relay,
  failed: s.punches.failed,
  relayBytes: s.counters.relay_bytes ?? 0,
});

export interface HistoryOptions {
  /** Expected time between samples; default HISTORY_INTERVAL. */
  intervalMs?: number;
  /** Points older than this (behind the newest sample) are forgotten; default HISTORY_KEEP. */
  keepMs?: number;
}

export class History {
  readonly intervalMs: number;
  readonly keepMs: number;
  /** Ring of at most `capacity` points; `next` is where the next one goes. */
  private readonly ring: (HistoryPoint | undefined)[];
  private next = 0;
  private last: Reading | undefined;

  constructor(opts: HistoryOptions = {}) {
    this.intervalMs = opts.intervalMs ?? HISTORY_INTERVAL;
    this.keepMs = opts.keepMs ?? HISTORY_KEEP;
    if (!(this.intervalMs > 0) || !(this.keepMs >= this.intervalMs)) throw new RangeError("History: need 0 < intervalMs <= keepMs");
    this.ring = new Array(Math.ceil(this.keepMs / this.intervalMs)).fill(undefined);
  }

  get capacity(): number {
    return this.ring.length;
  }

  /**
   * Takes a sample. The first one only sets the baseline; each later one
   * adds a point covering the time since the previous, unless it comes less
   * than half an interval after it (a duplicate call: ignored, so timer
   * jitter cannot double the points). Returns the point added, if any.
   * The snapshot's nowMs is the clock.
   */
  sample(s: ServerSnapshot): HistoryPoint | undefined {
    const now = read(s);
    const prev = this.last;
    const elapsed = prev ? now.nowMs - prev.nowMs : 0;
    if (prev && elapsed >= 0 && elapsed < this.intervalMs / 2) return undefined;
    this.last = now;
    if (!prev || elapsed < 0) return undefined; // first sample, or the wall clock went back: a new baseline
    const restarted = now.startedAtMs !== prev.startedAtMs;
    const delta = (k: "started" | "direct" | "relay" | "failed" | "relayBytes") =>
      restarted || now[k] < prev[k] ? now[k] : now[k] - prev[k];
    const point: HistoryPoint = {
      endMs: now.nowMs,
      spanMs: now.nowMs - prev.nowMs,
      started: delta("started"),
      direct: delta("direct"),
      relay: delta("relay"),
      failed: delta("failed"),
      relayBytes: delta("relayBytes"),
      registrations: s.registrations,
      relaySessions: s.relaySessions,
    };
    this.ring[this.next] = point;
    this.next = (this.next + 1) % this.ring.length;
    return point;
  }

  /** The points within keepMs of the newest sample, oldest first. */
  points(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const p = this.ring[(this.next + i) % this.ring.length];
      if (p) out.push(p);
    }
    const newest = this.last?.nowMs ?? 0;
    return out.filter((p) => p.endMs > newest - this.keepMs);
  }
}

/** Succeeded / (succeeded + failed), or null when nothing finished. */
export function successRate(p: { direct: number; relay: number; failed: number }): number | null {
  const done = p.direct + p.relay + p.failed;
  return done > 0 ? (p.direct + p.relay) / done : null;
}
