// Relaying for peers that cannot reach each other directly (like TURN, DERP
// or libp2p's circuit relay). One relay session per introduction token,
// between exactly the two names introduced; each direction has a byte rate
// (token bucket) and the session a byte quota; idle sessions expire and the
// table is capped. The payloads are the peers' own authenticated (and, after
// the handshake, encrypted) datagrams: the server forwards them unread.

export interface RelayLimits {
  /** Bytes per second each peer may send through the relay (burst: one second's worth). */
  bytesPerSecond: number;
  /** Total bytes one relay session may carry. */
  quotaBytes: number;
  /** A session unused this long is forgotten. */
  idleMs: number;
  maxSessions: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

interface RelaySession {
  a: string;
  b: string;
  bytes: number;
  lastUsed: number;
  buckets: Map<string, Bucket>;
}

export type RelayVerdict = { ok: true; to: string } | { ok: false; reason: "relay_unknown" | "relay_not_member" | "relay_quota" | "relay_rate" };

export class RelayTable {
  private readonly sessions = new Map<string, RelaySession>();

  constructor(readonly limits: RelayLimits) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Allows `a` and `b` to relay under `token` (idempotent). */
  open(token: string, a: string, b: string, now: number): void {
    const existing = this.sessions.get(token);
    if (existing) return this.touch(token, existing, now);
    if (this.sessions.size >= this.limits.maxSessions) this.sweep(now);
    if (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (!oldest.done) this.sessions.delete(oldest.value);
    }
    this.sessions.set(token, { a, b, bytes: 0, lastUsed: now, buckets: new Map() });
  }

  /** The other member of `token`'s session, if `from` is a member (charges nothing). */
  peerOf(token: string, from: string, now: number): RelayVerdict {
    const s = this.sessions.get(token);
    if (!s || now - s.lastUsed > this.limits.idleMs) return { ok: false, reason: "relay_unknown" };
    if (from !== s.a && from !== s.b) return { ok: false, reason: "relay_not_member" };
    return { ok: true, to: from === s.a ? s.b : s.a };
  }

  /** May `from` send `bytes` through `token` now? Charges the quota and rate when it may. */
  forward(token: string, from: string, bytes: number, now: number): RelayVerdict {
    const s = this.sessions.get(token);
    if (!s || now - s.lastUsed > this.limits.idleMs) return { ok: false, reason: "relay_unknown" };
    if (from !== s.a && from !== s.b) return { ok: false, reason: "relay_not_member" };
    if (s.bytes + bytes > this.limits.quotaBytes) return { ok: false, reason: "relay_quota" };
    let bucket = s.buckets.get(from);
    if (!bucket) s.buckets.set(from, (bucket = { tokens: this.limits.bytesPerSecond, last: now }));
    bucket.tokens = Math.min(this.limits.bytesPerSecond, bucket.tokens + ((now - bucket.last) / 1000) * this.limits.bytesPerSecond);
    bucket.last = now;
    if (bucket.tokens < bytes) return { ok: false, reason: "relay_rate" };
    bucket.tokens -= bytes;
    s.bytes += bytes;
    this.touch(token, s, now);
    return { ok: true, to: from === s.a ? s.b : s.a };
  }

  /** Forgets idle sessions (least recently used first). */
  sweep(now: number): void {
    for (const [token, s] of this.sessions) {
      if (now - s.lastUsed <= this.limits.idleMs) break;
      this.sessions.delete(token);
    }
  }

  private touch(token: string, s: RelaySession, now: number): void {
    s.lastUsed = now;
    this.sessions.delete(token);
    this.sessions.set(token, s);
  }
}
