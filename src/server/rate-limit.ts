// Token buckets keyed by source IP, capped in number. Each use re-inserts the
// key, so the least recently used bucket is first and sweeping stops at the
// first bucket that has not yet refilled completely.

import { RATE_LIMITED_NOTICE_INTERVAL, second } from "../constants.ts";

interface Bucket {
  tokens: number;
  last: number;
  /** When this source was last told it is rate limited (we tell at most once a second). */
  toldAt: number;
}

export type Verdict = "allow" | "limit-and-tell" | "limit";

export class RateLimiter {
  private buckets = new Map<string, Bucket>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    readonly maxBuckets: number,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  take(key: string, now: number): Verdict {
    if (this.perSecond === Number.POSITIVE_INFINITY) return "allow"; // limiting switched off
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / second) * this.perSecond);
      b.last = now;
    } else {
      if (this.buckets.size >= this.maxBuckets) this.evictOne(now);
      b = { tokens: this.burst, last: now, toldAt: -Infinity };
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return "allow";
    }
    if (now - b.toldAt >= RATE_LIMITED_NOTICE_INTERVAL) {
      b.toldAt = now;
      return "limit-and-tell";
    }
    return "limit";
  }

  /** Forgets buckets that have refilled (they would allow a full burst anyway). */
  sweep(now: number): void {
    const refillMs = (this.burst / this.perSecond) * second;
    for (const [key, b] of this.buckets) {
      if (now - b.last < refillMs) break;
      this.buckets.delete(key);
    }
  }

  private evictOne(now: number): void {
    this.sweep(now);
    if (this.buckets.size < this.maxBuckets) return;
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
