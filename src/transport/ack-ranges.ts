// ACK ranges as in QUIC (RFC 9000 §19.3.1): `largest`, `first_length`, then
// (gap, length) pairs going down. A range [lo, hi] includes both ends; the
// first is [largest - first_length, largest]; each gap counts the missing
// numbers below the previous range, minus one.
//
//   received {0..5, 8..9, 12} -> largest 12, first_length 0, ranges [1, 1, 1, 5]
//
// AckState is the receiving side: which numbers arrived (for duplicates and
// ACKs) and when an ACK is due (RFC 9000 §13.2.1).
import { ACK_ELICITING_THRESHOLD, MAX_ACK_RANGES, MAX_ACK_RANGES_ACCEPTED, MAX_TRACKED_RECEIVED_RANGES } from "./constants.ts";
import { IntervalSet } from "./interval-set.ts";

/** A run of packet numbers, both ends included. */
export interface PnRange {
  lo: number;
  hi: number;
}

export interface AckFields {
  largest: number;
  firstLength: number;
  /** (gap, length) pairs. */
  ranges: number[];
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Encodes ranges given highest first, disjoint and not adjacent (at least one). */
export function encodeAckRanges(ranges: readonly PnRange[]): AckFields {
  const first = ranges[0]!;
  const pairs: number[] = [];
  let prevLo = first.lo;
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    pairs.push(prevLo - r.hi - 2, r.hi - r.lo);
    prevLo = r.lo;
  }
  return { largest: first.hi, firstLength: first.hi - first.lo, ranges: pairs };
}

/**
 * Decodes the wire fields into ranges, highest first; undefined if they are
 * malformed (odd pair count, more than `maxPairs` pairs, below zero, or past
 * what a double holds exactly).
 */
export function decodeAckRanges(
  largest: bigint,
  firstLength: bigint,
  ranges: readonly bigint[],
  maxPairs = MAX_ACK_RANGES_ACCEPTED,
): PnRange[] | undefined {
  if (ranges.length % 2 !== 0 || ranges.length / 2 > maxPairs) return undefined;
  if (largest > MAX_SAFE || firstLength > largest) return undefined;
  let hi = Number(largest);
  let lo = hi - Number(firstLength);
  const out: PnRange[] = [{ lo, hi }];
  for (let i = 0; i < ranges.length; i += 2) {
    const gap = ranges[i]!;
    const length = ranges[i + 1]!;
    if (gap > MAX_SAFE || length > MAX_SAFE) return undefined;
    hi = lo - Number(gap) - 2;
    lo = hi - Number(length);
    if (hi < 0 || lo < 0) return undefined;
    out.push({ lo, hi });
  }
  return out;
}

export class AckState {
  private readonly received = new IntervalSet();
  /** Numbers below this were forgotten (too many ranges): treated as duplicates. */
  private floor = 0;
  /** Numbers below this are no longer reported (the peer saw an ACK covering them). */
  private reportFloor = 0;
  private largest = -1;
  private largestAt = 0;
  private elicitingUnacked = 0;
  /** Something arrived since our last ACK: piggyback one on the next packet. */
  pending = false;
  /** An ACK should go out now, alone if need be. */
  immediate = false;
  /** An ACK is due by then (max_ack_delay after the first unacknowledged ack-eliciting packet). */
  deadline: number | undefined;

  constructor(private readonly maxAckDelay: number) {}

  get largestReceived(): number {
    return this.largest;
  }

  /** Records a packet number; false if it is a duplicate (or too old to tell): drop the packet. */
  onReceived(pn: number, ackEliciting: boolean, now: number): boolean {
    if (pn < this.floor || this.received.has(pn)) return false;
    const outOfOrder = pn < this.largest || pn > this.largest + 1;
    this.received.add(pn, pn + 1);
    if (this.received.count > MAX_TRACKED_RECEIVED_RANGES) {
      this.received.shift();
      this.floor = this.received.first() ?? this.floor;
    }
    if (pn > this.largest) {
      this.largest = pn;
      this.largestAt = now;
    }
    this.pending = true;
    if (!ackEliciting) return true;
    this.elicitingUnacked++;
    if (outOfOrder || this.elicitingUnacked >= ACK_ELICITING_THRESHOLD) this.immediate = true;
    else this.deadline ??= now + this.maxAckDelay;
    return true;
  }

  /** An ACK-only packet is due now. */
  due(now: number): boolean {
    return this.elicitingUnacked > 0 && (this.immediate || (this.deadline !== undefined && now >= this.deadline));
  }

  /** The ACK to send now (newest ranges, at most `maxRanges`), or undefined if there is nothing to report. */
  build(now: number, maxRanges = MAX_ACK_RANGES): { fields: AckFields; delayUs: number } | undefined {
    const out: PnRange[] = [];
    for (let i = this.received.count - 1; i >= 0 && out.length < maxRanges; i--) {
      const hi = this.received.end(i) - 1;
      const lo = Math.max(this.received.start(i), this.reportFloor);
      if (hi < lo) break;
      out.push({ lo, hi });
    }
    if (out.length === 0) return undefined;
    const delayUs = Math.min(0xffffffff, Math.max(0, Math.round((now - this.largestAt) * 1000)));
    return { fields: encodeAckRanges(out), delayUs };
  }

  /** An ACK went out (alone or piggybacked). */
  onAckSent(): void {
    this.pending = false;
    this.immediate = false;
    this.deadline = undefined;
    this.elicitingUnacked = 0;
  }

  /** The peer acknowledged a packet of ours carrying an ACK up to `largest`: stop reporting below it. */
  onAckAcknowledged(largest: number): void {
    if (largest + 1 > this.reportFloor) this.reportFloor = largest + 1;
  }
}
