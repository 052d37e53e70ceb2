// Loss recovery, RFC 9002 §6 and Appendix A: the packets we sent and not yet
// saw acknowledged, RTT samples from ACKs, loss by packet threshold (3) and
// time threshold (9/8 RTT), and the PTO with exponential backoff. Pure: the
// caller passes `now`, arms one timer at deadline(), and re-queues the frames
// of whatever comes back as lost (in new packets).
import type { PnRange } from "./ack-ranges.ts";
import { NewReno } from "./congestion.ts";
import {
  GRANULARITY,
  MAX_PTO,
  MAX_TRACKED_SENT_PACKETS,
  PACKET_THRESHOLD,
  PERSISTENT_CONGESTION_THRESHOLD,
  TIME_THRESHOLD,
} from "./constants.ts";
import { RttEstimator } from "./rtt.ts";

/** Stream bytes [offset, offset + length) carried by a packet, with FIN / open if set. */
export interface SentChunk {
  stream: number;
  offset: number;
  length: number;
  fin: boolean;
}

export type SentControl =
  | { kind: "maxOffset"; stream: number }
  | { kind: "reset"; stream: number; code: number; finalSize: number }
  | { kind: "refuse"; stream: number; code: number };

export interface SentPacket {
  pn: number;
  timeSent: number;
  /** Encoded bytes. */
  size: number;
  /** Carries something besides an ACK: counts in flight, must be acknowledged. */
  ackEliciting: boolean;
  chunks: SentChunk[];
  controls: SentControl[];
  /** Carried a max_data update. */
  maxData: boolean;
  datagrams: number;
  /** Largest number in the ACK it carried, or -1. */
  ackLargest: number;
}

export interface AckOutcome {
  acked: SentPacket[];
  lost: SentPacket[];
}

export class Recovery {
  readonly rtt: RttEstimator;
  readonly cc: NewReno;
  private readonly sent = new Map<number, SentPacket>(); // in number order
  largestAcked = -1;
  largestSent = -1;
  ptoCount = 0;
  private lossTime: number | undefined;
  private lastAckElicitingSent = 0;
  private elicitingInFlight = 0;
  private firstSampleAt: number | undefined;

  constructor(
    maxDatagram: number,
    private readonly maxAckDelay: number,
    initialRtt?: number,
  ) {
    this.rtt = new RttEstimator(initialRtt);
    this.cc = new NewReno(maxDatagram);
  }

  get tracked(): number {
    return this.sent.size;
  }

  get ackElicitingInFlight(): number {
    return this.elicitingInFlight;
  }

  /** Records a sent packet; returns packets forgotten to stay under MAX_TRACKED_SENT_PACKETS (treat as lost). */
  onSent(p: SentPacket): SentPacket[] {
    this.sent.set(p.pn, p);
    this.largestSent = p.pn;
    if (p.ackEliciting) {
      this.cc.onSent(p.size);
      this.elicitingInFlight++;
      this.lastAckElicitingSent = p.timeSent;
    }
    const forgotten: SentPacket[] = [];
    for (const old of this.sent.values()) {
      if (this.sent.size <= MAX_TRACKED_SENT_PACKETS) break;
      this.sent.delete(old.pn);
      this.leaveFlight(old);
      forgotten.push(old);
    }
    return forgotten;
  }

  /**
   * Processes an ACK (ranges highest first, already decoded). Undefined if it
   * acknowledges a number never sent: the caller drops the packet.
   */
  onAck(ranges: readonly PnRange[], ackDelay: number, now: number, appLimited: boolean): AckOutcome | undefined {
    const largest = ranges[0]?.hi ?? -1;
    if (largest < 0 || largest > this.largestSent) return undefined;
    if (largest > this.largestAcked) this.largestAcked = largest;
    const acked = this.takeAcked(ranges);
    if (acked.length === 0) return { acked, lost: [] };
    const newest = acked[acked.length - 1]!;
    if (newest.pn === largest && acked.some((p) => p.ackEliciting)) {
      this.rtt.update(now - newest.timeSent, ackDelay, this.maxAckDelay);
      this.firstSampleAt ??= now;
    }
    const lost = this.detectLost(now);
    this.onLost(lost, now);
    for (const p of acked) {
      if (!p.ackEliciting) continue;
      this.elicitingInFlight--;
      this.cc.onAcked(p.size, p.timeSent, appLimited);
    }
    this.ptoCount = 0;
    return { acked, lost };
  }

  /** When the loss / probe timer should fire, if at all. */
  deadline(): number | undefined {
    if (this.lossTime !== undefined) return this.lossTime;
    if (this.elicitingInFlight === 0) return undefined;
    const pto = Math.min(this.rtt.pto(this.maxAckDelay) * 2 ** this.ptoCount, MAX_PTO);
    return this.lastAckElicitingSent + pto;
  }

  /** The timer fired: either packets are now lost (time threshold), or a probe is due (PTO). */
  onTimeout(now: number): { lost: SentPacket[]; probe: boolean } {
    if (this.lossTime !== undefined) {
      const lost = this.detectLost(now);
      this.onLost(lost, now);
      return { lost, probe: false };
    }
    if (this.elicitingInFlight === 0) return { lost: [], probe: false };
    if (this.rtt.pto(this.maxAckDelay) * 2 ** this.ptoCount < MAX_PTO) this.ptoCount++;
    return { lost: [], probe: true };
  }

  private takeAcked(ranges: readonly PnRange[]): SentPacket[] {
    const acked: SentPacket[] = [];
    let span = 0;
    for (const r of ranges) span += r.hi - r.lo + 1;
    if (span <= 2 * this.sent.size) {
      for (let i = ranges.length - 1; i >= 0; i--) {
        const r = ranges[i]!;
        for (let pn = r.lo; pn <= r.hi; pn++) {
          const p = this.sent.get(pn);
          if (p) acked.push(p);
        }
      }
    } else {
      // Wide ranges (e.g. one covering everything): walk what we hold instead.
      for (const p of this.sent.values()) if (inRanges(ranges, p.pn)) acked.push(p);
    }
    for (const p of acked) this.sent.delete(p.pn);
    return acked;
  }

  private detectLost(now: number): SentPacket[] {
    const lossDelay = Math.max(TIME_THRESHOLD * Math.max(this.rtt.latest, this.rtt.smoothed), GRANULARITY);
    this.lossTime = undefined;
    const lost: SentPacket[] = [];
    for (const p of this.sent.values()) {
      if (p.pn > this.largestAcked) break;
      // One expression for both the test and the deadline: the timer then always finds the packet lost.
      const lostAt = p.timeSent + lossDelay;
      if (lostAt <= now || this.largestAcked >= p.pn + PACKET_THRESHOLD) lost.push(p);
      else this.lossTime = Math.min(this.lossTime ?? Infinity, lostAt);
    }
    for (const p of lost) this.sent.delete(p.pn);
    return lost;
  }

  private onLost(lost: readonly SentPacket[], now: number): void {
    let newestEliciting: SentPacket | undefined;
    for (const p of lost) {
      if (!p.ackEliciting) continue;
      this.leaveFlight(p);
      newestEliciting = p;
    }
    if (!newestEliciting) return;
    this.cc.onCongestionEvent(newestEliciting.timeSent, now);
    if (this.persistentCongestion(lost)) this.cc.onPersistentCongestion();
  }

  private leaveFlight(p: SentPacket): void {
    if (!p.ackEliciting) return;
    this.elicitingInFlight--;
    this.cc.onLost(p.size);
  }

  /**
   * RFC 9002 §7.6, within one batch of losses: two ack-eliciting packets,
   * sent after the first RTT sample, further apart than the persistent
   * congestion duration, with every packet number between them lost too.
   */
  private persistentCongestion(lost: readonly SentPacket[]): boolean {
    if (this.firstSampleAt === undefined) return false;
    const duration =
      (this.rtt.smoothed + Math.max(4 * this.rtt.rttvar, GRANULARITY) + this.maxAckDelay) * PERSISTENT_CONGESTION_THRESHOLD;
    let start: SentPacket | undefined;
    let prev = -2;
    for (const p of lost) {
      if (p.pn !== prev + 1) start = undefined;
      prev = p.pn;
      if (!p.ackEliciting || p.timeSent < this.firstSampleAt) continue;
      if (!start) start = p;
      else if (p.timeSent - start.timeSent > duration) return true;
    }
    return false;
  }
}

/** Whether pn is in ranges given highest first. */
function inRanges(ranges: readonly PnRange[], pn: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (pn > r.hi) hi = mid - 1;
    else if (pn < r.lo) lo = mid + 1;
    else return true;
  }
  return false;
}
