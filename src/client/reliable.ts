// Reliable, ordered delivery of chat lines over the peer path: lines are cut
// into chunks numbered from 1, retransmitted until a cumulative ack covers
// them, and reassembled in order by the receiver. No I/O: the owner sends
// what `due()` returns and feeds acks and chunks back in.
import {
  MAX_CHUNK_BYTES,
  MAX_LINE_BYTES,
  MESSAGE_RTO_INITIAL,
  MESSAGE_RTO_MAX,
  MESSAGE_RTO_MIN,
  MESSAGE_WINDOW,
} from "../constants.ts";

export interface Chunk {
  seq: bigint;
  data: Uint8Array;
  last: boolean;
}

interface Pending extends Chunk {
  sentAt: number;
  deadline: number;
  transmissions: number;
}

const encoder = new TextEncoder();


/** Splits one line into chunks of at most MAX_CHUNK_BYTES (an empty line is one empty chunk). */
export function chunkLine(text: string): Array<{ data: Uint8Array; last: boolean }> {
  const bytes = encoder.encode(text);
  const out: Array<{ data: Uint8Array; last: boolean }> = [];
  for (let i = 0; i < bytes.length || out.length === 0; i += MAX_CHUNK_BYTES) {
    const data = bytes.subarray(i, i + MAX_CHUNK_BYTES);
    out.push({ data, last: i + MAX_CHUNK_BYTES >= bytes.length });
  }
  return out;
}

export class ReliableSender {
  private nextSeq = 1n;
  private queue: Array<{ data: Uint8Array; last: boolean }> = [];
  private inflight: Pending[] = [];
  private srtt: number | undefined;
  private rttvar = 0;

  constructor(initialRttMs?: number) {
    if (initialRttMs !== undefined) this.sample(initialRttMs);
  }

  get rto(): number {
    if (this.srtt === undefined) return MESSAGE_RTO_INITIAL;
    return Math.min(MESSAGE_RTO_MAX, Math.max(MESSAGE_RTO_MIN, this.srtt + 4 * this.rttvar));
  }

  /** Seeds the RTT estimate (from the punch) unless real samples exist. */
  seedRtt(rttMs: number): void {
    if (this.srtt === undefined) this.sample(rttMs);
  }

  /** Chunks not yet acknowledged (queued or in flight). */
  get unacked(): number {
    return this.queue.length + this.inflight.length;
  }

  enqueue(text: string): void {
    this.queue.push(...chunkLine(text));
  }

  /** Chunks to (re)send now; marks them sent. */
  due(now: number): Chunk[] {
    const out: Chunk[] = [];
    for (const p of this.inflight) {
      if (p.deadline > now) continue;
      p.transmissions++;
      p.sentAt = now;
      p.deadline = now + Math.min(MESSAGE_RTO_MAX, this.rto * 2 ** (p.transmissions - 1));
      out.push(p);
    }
    while (this.queue.length > 0 && this.inflight.length < MESSAGE_WINDOW) {
      const c = this.queue.shift()!;
      const p: Pending = { ...c, seq: this.nextSeq++, sentAt: now, deadline: now + this.rto, transmissions: 1 };
      this.inflight.push(p);
      out.push(p);
    }
    return out;
  }

  /** Makes everything in flight due now (the path changed: resend there without waiting). */
  retransmitAllNow(now: number): void {
    for (const p of this.inflight) p.deadline = now;
  }

  /** Earliest retransmission deadline, if anything is in flight. */
  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const p of this.inflight) if (d === undefined || p.deadline < d) d = p.deadline;
    return d;
  }

  /** Cumulative ack: everything up to `seq` arrived. */
  ack(seq: bigint, now: number): void {
    while (this.inflight.length > 0 && this.inflight[0]!.seq <= seq) {
      const p = this.inflight.shift()!;
      if (p.transmissions === 1) this.sample(now - p.sentAt); // Karn: only unambiguous samples
    }
  }

  private sample(rtt: number): void {
    if (this.srtt === undefined) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
  }
}

export class ReliableReceiver {
  private expected = 1n;
  private buffer = new Map<bigint, Chunk>();
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private decoder = new TextDecoder();

  /** Highest seq such that every chunk up to it arrived (the cumulative ack). */
  get cumulative(): bigint {
    return this.expected - 1n;
  }

  /**
   * Accepts one chunk; returns the complete lines it made deliverable, in
   * order. Chunks far beyond the window are ignored (the sender will resend).
   */
  accept(c: Chunk): string[] {
    if (c.seq < this.expected || c.seq >= this.expected + BigInt(MESSAGE_WINDOW * 2)) return [];
    this.buffer.set(c.seq, c);
    const lines: string[] = [];
    for (let next = this.buffer.get(this.expected); next; next = this.buffer.get(this.expected)) {
      this.buffer.delete(this.expected);
      this.expected++;
      this.partial.push(next.data);
      this.partialBytes += next.data.length;
      // A peer that never ends its line must not grow our memory without bound.
      if (next.last || this.partialBytes >= MAX_LINE_BYTES) {
        lines.push(this.decoder.decode(concat(this.partial)));
        this.partial = [];
        this.partialBytes = 0;
      }
    }
    return lines;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
