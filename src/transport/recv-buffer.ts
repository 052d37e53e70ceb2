// One stream's incoming bytes: reassembly by offset. Data at the delivery
// point goes straight out; data beyond waits as sorted, disjoint segments
// (duplicates and overlaps trimmed away) until the hole before it fills.
import { MAX_REASSEMBLY_SEGMENTS } from "./constants.ts";

/** Out-of-order pieces smaller than this are copied rather than kept as views of their packet. */
const SMALL_PIECE = 256;

export class RecvBuffer {
  /** Bytes below this were handed out in order. */
  delivered = 0;
  private offsets: number[] = [];
  private datas: Uint8Array[] = [];

  get segments(): number {
    return this.offsets.length;
  }

  /** Bytes held out of order. */
  get waitingBytes(): number {
    let n = 0;
    for (const d of this.datas) n += d.length;
    return n;
  }

  /**
   * Accepts [offset, offset + data.length) and appends to `out` whatever
   * became deliverable, in order. False if it was dropped because too many
   * segments wait already (the sender will send it again).
   */
  insert(offset: number, data: Uint8Array, out: Uint8Array[]): boolean {
    const end = offset + data.length;
    if (end <= this.delivered) return true;
    if (offset < this.delivered) {
      data = data.subarray(this.delivered - offset);
      offset = this.delivered;
    }
    if (offset === this.delivered) {
      out.push(data);
      this.delivered = end;
      this.drain(out);
      return true;
    }
    // Beyond a hole: keep the parts not held yet.
    const i = this.firstEndingAfter(offset);
    const addOffsets: number[] = [];
    const addDatas: Uint8Array[] = [];
    let at = offset;
    let k = i;
    for (; k < this.offsets.length && this.offsets[k]! < end; k++) {
      const o = this.offsets[k]!;
      if (o > at) {
        addOffsets.push(at);
        addDatas.push(data.subarray(at - offset, o - offset));
      }
      at = Math.max(at, o + this.datas[k]!.length);
    }
    if (at < end) {
      addOffsets.push(at);
      addDatas.push(data.subarray(at - offset));
    }
    // A small piece would pin its whole packet buffer while it waits: copy it.
    for (let n = 0; n < addDatas.length; n++) if (addDatas[n]!.length < SMALL_PIECE) addDatas[n] = addDatas[n]!.slice();
    if (addOffsets.length === 0) return true;
    if (this.offsets.length + addOffsets.length > MAX_REASSEMBLY_SEGMENTS) return false;
    // Merge the new pieces with the existing segments i..k-1 (both sorted).
    const mo: number[] = [];
    const md: Uint8Array[] = [];
    let a = i;
    let b = 0;
    while (a < k || b < addOffsets.length) {
      if (b >= addOffsets.length || (a < k && this.offsets[a]! < addOffsets[b]!)) {
        mo.push(this.offsets[a]!);
        md.push(this.datas[a++]!);
      } else {
        mo.push(addOffsets[b]!);
        md.push(addDatas[b++]!);
      }
    }
    this.offsets.splice(i, k - i, ...mo);
    this.datas.splice(i, k - i, ...md);
    return true;
  }

  /** Forgets everything waiting (the stream was aborted). */
  clear(): void {
    this.offsets = [];
    this.datas = [];
  }

  private drain(out: Uint8Array[]): void {
    let n = 0;
    while (n < this.offsets.length && this.offsets[n]! <= this.delivered) {
      const o = this.offsets[n]!;
      const d = this.datas[n]!;
      if (o + d.length > this.delivered) {
        out.push(d.subarray(this.delivered - o));
        this.delivered = o + d.length;
      }
      n++;
    }
    if (n > 0) {
      this.offsets.splice(0, n);
      this.datas.splice(0, n);
    }
  }

  /** First segment index whose end is after x. */
  private firstEndingAfter(x: number): number {
    let lo = 0;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! + this.datas[mid]!.length > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
