// The streams of one transport: ids (side "a" even, side "b" odd, never
// colliding), peer streams opened implicitly in id order as in QUIC (an id at
// or below the highest seen and not live is closed), incoming chunks and
// controls, stream and session flow control, reset / refuse, and freeing a
// stream once both directions are over. Sending lives in stream-send.ts.
//
// Closing handshake without a final-size field: a StreamControl with `reset`
// carries the sender's final size in `max_offset`, and whoever receives a
// reset or refuse answers with its own reset (its final size), unless its
// side already ended cleanly. Both sides then agree on the session's bytes.
import type { StreamChunk, StreamControl } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  INITIAL_SESSION_WINDOW_BYTES,
  MAX_INCOMING_STREAMS,
  MAX_STREAM_OFFSET,
  REFUSED_DEFAULT,
  REFUSED_TOO_MANY_STREAMS,
} from "./constants.ts";
import { StreamIdsExhaustedError, StreamRefusedError, StreamResetError, type TransportError } from "./errors.ts";
import type { SentControl, SentPacket } from "./recovery.ts";
import { Stream, type StreamHost } from "./stream.ts";

export interface StreamCounters {
  /** Frames for streams that are over (late retransmissions): ignored. */
  lateFrames: number;
  /** Frames that break the rules (unknown stream of ours, bad final size, too many streams): dropped. */
  invalidFrames: number;
  /** Data past the credit we gave: dropped. */
  flowViolations: number;
  /** Out-of-order pieces dropped because a reassembly buffer was full. */
  reassemblyDrops: number;
}

export interface StreamTableOptions {
  role: "a" | "b";
  streamWindow: number;
  sessionWindow: number;
  highWater: number;
  onStream: ((stream: Stream, label: string) => boolean | void) | undefined;
  /** Something to send: flush soon. */
  wake(): void;
  /** An application callback threw. */
  report(error: unknown): void;
}

export class StreamTable implements StreamHost {
  readonly live = new Map<number, Stream>();
  /** Streams with something to send, round-robin. */
  readonly sendQueue: Stream[] = [];
  readonly controls: SentControl[] = [];
  readonly counters: StreamCounters = { lateFrames: 0, invalidFrames: 0, flowViolations: 0, reassemblyDrops: 0 };
  private nextLocal: number;
  private maxPeer: number;
  private incoming = 0;
  // Session flow control, sending: new bytes sent on all streams, and the peer's credit.
  sentData = 0;
  peerMaxData = INITIAL_SESSION_WINDOW_BYTES;
  // ...and receiving: highest offsets summed, bytes consumed, credit advertised.
  recvData = 0;
  consumedData = 0;
  maxData = INITIAL_SESSION_WINDOW_BYTES;
  maxDataPending: boolean;

  constructor(private readonly o: StreamTableOptions) {
    this.nextLocal = o.role === "a" ? 0 : 1;
    this.maxPeer = o.role === "a" ? -1 : -2;
    this.maxDataPending = this.updateSessionCredit();
  }

  open(label: string): Stream {
    if (this.nextLocal > 0xffffffff) throw new StreamIdsExhaustedError();
    const s = this.create(this.nextLocal, true, label);
    this.nextLocal += 2;
    s.send.openPending = true;
    this.wake(s);
    return s;
  }

  sessionCredit(): number {
    return this.peerMaxData - this.sentData;
  }

  // ---- StreamHost ----

  wake(s: Stream): void {
    if (!s.queued && !s.resetSent) {
      s.queued = true;
      this.sendQueue.push(s);
    }
    this.o.wake();
  }

  consumed(s: Stream, bytes: number): void {
    s.recvConsumed += bytes;
    this.consumedData += bytes;
    if (s.finalSize === undefined && !s.recvAborted && s.recvMaxOffset - s.recvConsumed <= this.o.streamWindow / 2) {
      s.recvMaxOffset = s.recvConsumed + this.o.streamWindow;
      this.queueCredit(s);
    }
    if (this.updateSessionCredit()) this.o.wake();
    this.maybeFree(s);
  }

  abort(s: Stream, code: number, refuse: boolean): void {
    if (s.error || this.live.get(s.id) !== s) return; // failed already, or over in both directions
    s.fail(refuse ? new StreamRefusedError(s.id, code, false) : new StreamResetError(s.id, code, false));
    this.endSend(s, refuse ? { kind: "refuse", stream: s.id, code } : undefined, code);
    this.abortRecv(s);
    this.o.wake();
    this.maybeFree(s);
  }

  // ---- incoming ----

  onMaxData(value: number): void {
    if (value <= this.peerMaxData) return;
    this.peerMaxData = value;
    for (const s of this.live.values()) if (s.send.unsent > 0 && !s.queued) this.wake(s);
  }

  onChunk(c: StreamChunk): void {
    const offset = Number(c.offset);
    const end = offset + c.data.length;
    const s = this.resolve(c.stream);
    if (!s) return;
    if ((s.finalSize !== undefined && end > s.finalSize) || (c.fin && ((s.finalSize ?? end) !== end || end < s.recvHighest))) {
      this.counters.invalidFrames++;
      return;
    }
    if (!this.account(s, end)) return;
    if (c.fin) s.finalSize = end;
    if (s.recvAborted) {
      this.creditDiscarded(s);
    } else {
      const out: Uint8Array[] = [];
      if (!s.recv.insert(offset, c.data, out)) this.counters.reassemblyDrops++;
      s.deliver(out);
      if (!s.surfaced && offset === 0) this.surface(s, c.open);
    }
    this.maybeFree(s);
  }

  onControl(c: StreamControl): void {
    const s = this.resolve(c.stream);
    if (!s) return;
    if (c.refuse !== 0 || c.reset !== 0) {
      const code = c.refuse !== 0 ? c.refuse : c.reset;
      const final = c.refuse !== 0 ? 0 : Number(c.maxOffset);
      if (final < s.recvHighest || (s.finalSize !== undefined && final !== s.finalSize)) this.counters.invalidFrames++;
      else if (this.account(s, final)) s.finalSize = final;
      s.fail(c.refuse !== 0 ? new StreamRefusedError(s.id, code, true) : new StreamResetError(s.id, code, true));
      if (!s.resetSent && !s.send.done) this.endSend(s, undefined, code);
      else s.resetSent = true;
      this.abortRecv(s);
      this.creditDiscarded(s);
      this.o.wake();
    } else if (c.maxOffset > BigInt(s.peerMaxOffset)) {
      s.peerMaxOffset = Number(c.maxOffset);
      if (s.send.unsent > 0 && !s.queued) this.wake(s);
    }
    this.maybeFree(s);
  }

  /** A packet was acknowledged: its stream bytes are delivered. */
  onFramesAcked(p: SentPacket): void {
    for (const sc of p.chunks) {
      const s = this.live.get(sc.stream);
      if (!s || s.resetSent) continue;
      s.send.onAcked(sc.offset, sc.length, sc.fin);
      s.onSendProgress();
      this.maybeFree(s);
    }
  }

  /** A packet was lost: what it carried goes out again in new packets (the current credit, not the old one). */
  onFramesLost(p: SentPacket): void {
    if (p.maxData) this.maxDataPending = true;
    for (const sc of p.chunks) {
      const s = this.live.get(sc.stream);
      if (!s || s.resetSent) continue;
      s.send.onLost(sc.offset, sc.length, sc.fin);
      this.wake(s);
    }
    for (const c of p.controls) {
      if (c.kind !== "maxOffset") this.controls.push(c);
      else {
        const s = this.live.get(c.stream);
        if (s && !s.recvAborted && s.finalSize === undefined) this.queueCredit(s);
      }
    }
  }

  /** close(): every stream fails with `error`. */
  closeAll(error: TransportError): void {
    for (const s of this.live.values()) s.fail(error);
    this.live.clear();
    this.sendQueue.length = 0;
    this.controls.length = 0;
  }

  /** Frees a stream once both directions are over. */
  maybeFree(s: Stream): void {
    const sendOver = s.resetSent || s.send.done;
    const recvOver = s.finalSize !== undefined && (s.recvAborted || s.recvEnded);
    if (!sendOver || !recvOver || this.live.get(s.id) !== s) return;
    this.live.delete(s.id);
    if (!s.local) this.incoming--;
  }

  queueCredit(s: Stream): void {
    if (s.creditQueued) return;
    s.creditQueued = true;
    this.controls.push({ kind: "maxOffset", stream: s.id });
    this.o.wake();
  }

  // ---- internals ----

  private create(id: number, local: boolean, label: string): Stream {
    const s = new Stream(id, local, label, this, this.o.highWater);
    this.live.set(id, s);
    if (s.recvMaxOffset - s.recvConsumed <= this.o.streamWindow / 2) {
      s.recvMaxOffset = this.o.streamWindow;
      this.queueCredit(s);
    }
    return s;
  }

  /** The live stream a frame is for, opening the peer's new ones; undefined (counted) if none. */
  private resolve(id: number): Stream | undefined {
    const s = this.live.get(id);
    if (s) return s;
    const ours = (id & 1) === (this.o.role === "a" ? 0 : 1);
    if (ours || id <= this.maxPeer) {
      if (ours && id >= this.nextLocal) this.counters.invalidFrames++;
      else this.counters.lateFrames++;
      return undefined;
    }
    const count = (id - this.maxPeer) / 2;
    if (this.incoming + count > 2 * MAX_INCOMING_STREAMS) {
      this.counters.invalidFrames++;
      return undefined;
    }
    for (let n = this.maxPeer + 2; n <= id; n += 2) {
      const p = this.create(n, false, "");
      this.incoming++;
      if (this.incoming > MAX_INCOMING_STREAMS) this.abort(p, REFUSED_TOO_MANY_STREAMS, true);
    }
    this.maxPeer = id;
    return this.live.get(id);
  }

  /** Counts bytes up to `end` against the stream's and the session's credit; false (counted) if past it. */
  private account(s: Stream, end: number): boolean {
    if (end <= s.recvHighest) return true;
    const grow = end - s.recvHighest;
    if (end > s.recvMaxOffset || end > MAX_STREAM_OFFSET || this.recvData + grow > this.maxData) {
      this.counters.flowViolations++;
      return false;
    }
    s.recvHighest = end;
    this.recvData += grow;
    return true;
  }

  private surface(s: Stream, label: string): void {
    s.label = label;
    s.surfaced = true;
    let accept = false;
    try {
      accept = this.o.onStream !== undefined && this.o.onStream(s, label) !== false;
    } catch (e) {
      this.o.report(e);
    }
    if (!accept && !s.error) this.abort(s, REFUSED_DEFAULT, true);
  }

  /** Our direction is over: drop what is unsent and tell the peer (reset with our final size, or refuse). */
  private endSend(s: Stream, refuse: SentControl | undefined, code: number): void {
    if (s.resetSent) return;
    s.resetSent = true;
    this.controls.push(refuse ?? { kind: "reset", stream: s.id, code, finalSize: s.send.sent });
    s.send.discard();
    s.onSendProgress();
  }

  /** Our reading is over: drop what waits and give its credit back. */
  private abortRecv(s: Stream): void {
    if (s.recvAborted) return;
    s.recvAborted = true;
    s.dropUnread();
    s.recv.clear();
    this.creditDiscarded(s);
  }

  private creditDiscarded(s: Stream): void {
    const n = s.recvHighest - s.recvConsumed;
    if (n <= 0) return;
    s.recvConsumed += n;
    this.consumedData += n;
    if (this.updateSessionCredit()) this.o.wake();
  }

  /** Raises the session credit once half of it is used; true if an update is to be sent. */
  private updateSessionCredit(): boolean {
    if (this.maxData - this.consumedData > this.o.sessionWindow / 2) return false;
    this.maxData = this.consumedData + this.o.sessionWindow;
    this.maxDataPending = true;
    return true;
  }
}
