// One stream's outgoing bytes: what the application wrote, from the oldest
// unacknowledged byte on. Tracks the new-data frontier, acknowledged ranges
// and ranges to resend (lost), and the FIN. Bytes are kept as the written
// chunks (copied once at write); a frame is a subarray unless it spans two.
import { IntervalSet } from "./interval-set.ts";

export type FinState =
  | "none" // end() not called
  | "pending" // to send (or to resend: the packet carrying it was lost)
  | "sent" // in flight
  | "acked"; // the peer has it

export class SendBuffer {
  private chunks: Uint8Array[] = [];
  private starts: number[] = [];
  private head = 0;
  /** Bytes written (the final size once ended). */
  written = 0;
  /** Bytes below this were sent at least once. */
  sent = 0;
  /** Every byte below this is acknowledged (and freed). */
  ackedBelow = 0;
  private readonly acked = new IntervalSet();
  private readonly lost = new IntervalSet();
  fin: FinState = "none";
  /** The opening chunk (offset 0) must be sent, even without data. */
  openPending = false;
  openAcked = false;

  /** Bytes held: written and not yet acknowledged. */
  get buffered(): number {
    return this.written - this.ackedBelow;
  }

  /** Start of the lowest lost range, if any. */
  firstLost(): number | undefined {
    return this.lost.first();
  }

  get hasLost(): boolean {
    return !this.lost.isEmpty;
  }

  get unsent(): number {
    return this.written - this.sent;
  }

  /** Everything, FIN included, is acknowledged. */
  get done(): boolean {
    return this.fin === "acked" && this.ackedBelow === this.written;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.starts.push(this.written);
    this.written += data.length;
  }

  end(): void {
    if (this.fin === "none") this.fin = "pending";
  }

  /** Whether a chunk ending at `end` should carry the FIN now (and so marks it sent). */
  takeFin(end: number): boolean {
    if (this.fin !== "pending" || end !== this.written) return false;
    this.fin = "sent";
    return true;
  }

  /** An empty FIN chunk is due: everything was sent once and only the FIN is missing. */
  get finOnlyDue(): boolean {
    return this.fin === "pending" && this.sent === this.written && this.lost.isEmpty;
  }

  /** Takes up to maxLen bytes of the lowest lost range. */
  takeLost(maxLen: number): { offset: number; data: Uint8Array } | undefined {
    if (this.lost.isEmpty) return undefined;
    const s = this.lost.start(0);
    const e = Math.min(this.lost.end(0), s + maxLen);
    this.lost.remove(s, e);
    return { offset: s, data: this.read(s, e - s) };
  }

  /** Takes up to maxLen new bytes. */
  takeNew(maxLen: number): { offset: number; data: Uint8Array } {
    const offset = this.sent;
    const len = Math.max(0, Math.min(maxLen, this.written - offset));
    this.sent += len;
    return { offset, data: this.read(offset, len) };
  }

  onAcked(offset: number, length: number, fin: boolean): void {
    if (offset === 0) this.openAcked = true;
    if (fin) this.fin = "acked";
    const end = offset + length;
    if (end <= this.ackedBelow) return;
    this.lost.remove(offset, end);
    this.acked.add(Math.max(offset, this.ackedBelow), end);
    if (this.acked.first() === this.ackedBelow) {
      this.ackedBelow = this.acked.end(0);
      this.acked.shift();
      this.release();
    }
  }

  onLost(offset: number, length: number, fin: boolean): void {
    if (fin && this.fin === "sent") this.fin = "pending";
    if (offset === 0 && length === 0 && !this.openAcked) this.openPending = true;
    const start = Math.max(offset, this.ackedBelow);
    if (start < offset + length) this.acked.forEachHole(start, offset + length, (s, e) => this.lost.add(s, e));
  }

  /** Drops every byte (the stream was reset). */
  discard(): void {
    this.chunks = [];
    this.starts = [];
    this.head = 0;
    this.lost.remove(0, Infinity);
    this.ackedBelow = this.written;
    this.sent = this.written;
  }

  /** Bytes [offset, offset + length), all still held. */
  private read(offset: number, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    let i = this.find(offset);
    const first = this.chunks[i]!;
    const at = offset - this.starts[i]!;
    if (at + length <= first.length) return first.subarray(at, at + length);
    const out = new Uint8Array(length);
    let o = 0;
    for (let pos = offset; o < length; i++) {
      const c = this.chunks[i]!;
      const from = pos - this.starts[i]!;
      const n = Math.min(c.length - from, length - o);
      out.set(c.subarray(from, from + n), o);
      o += n;
      pos += n;
    }
    return out;
  }

  /** Index of the chunk holding `offset`. */
  private find(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Frees chunks wholly below ackedBelow. */
  private release(): void {
    while (this.head < this.chunks.length && this.starts[this.head]! + this.chunks[this.head]!.length <= this.ackedBelow) {
      this.chunks[this.head] = EMPTY;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.starts = this.starts.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
