// One stream as the application sees it: write / writable / end, read and
// `for await`, reset, and (on a stream the peer opened) refuse. The bytes and
// flow-control state live here too, driven by the transport (streams.ts).
import { INITIAL_STREAM_WINDOW_BYTES, REFUSED_DEFAULT, RESET_DEFAULT } from "./constants.ts";
import { BadArgumentError, StreamEndedError, type TransportError } from "./errors.ts";
import { RecvBuffer } from "./recv-buffer.ts";
import { SendBuffer } from "./send-buffer.ts";

/** What a stream asks of its transport. */
export interface StreamHost {
  /** Something to send on this stream: queue it and flush soon. */
  wake(stream: Stream): void;
  /** The application took `bytes` from this stream: credit may be due. */
  consumed(stream: Stream, bytes: number): void;
  /** The application aborts the stream (refuse: it never accepted it). */
  abort(stream: Stream, code: number, refuse: boolean): void;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

export class Stream implements AsyncIterable<Uint8Array> {
  // ---- transport side (not for applications) ----
  readonly send = new SendBuffer();
  readonly recv = new RecvBuffer();
  /** Send credit: the peer accepts bytes below this offset. */
  peerMaxOffset = INITIAL_STREAM_WINDOW_BYTES;
  /** One past the highest byte received (counted against the windows). */
  recvHighest = 0;
  /** Bytes taken by the application, or discarded. */
  recvConsumed = 0;
  /** The credit we advertised (the peer may send below this offset). */
  recvMaxOffset = INITIAL_STREAM_WINDOW_BYTES;
  finalSize: number | undefined;
  /** We stopped reading (reset or refused) and discard what arrives. */
  recvAborted = false;
  /** Our reset or refuse is queued: the send side is over. */
  resetSent = false;
  /** The application knows this stream (ours, or accepted in onStream). */
  surfaced: boolean;
  /** In the transport's round-robin of streams with something to send. */
  queued = false;
  /** A max_offset update is queued. */
  creditQueued = false;
  error: TransportError | undefined;

  private readable: Uint8Array[] = [];
  private readableHead = 0;
  private reader: Waiter<Uint8Array | undefined> | undefined;
  private writableWaiters: Waiter<void>[] = [];
  private finishedWaiters: Waiter<void>[] = [];

  constructor(
    readonly id: number,
    /** Opened by this side. */
    readonly local: boolean,
    public label: string,
    private readonly host: StreamHost,
    private readonly highWater: number,
  ) {
    this.surfaced = local;
  }

  // ---- application side ----

  /** Bytes written and not yet acknowledged by the peer. */
  get bufferedBytes(): number {
    return this.send.buffered;
  }

  /**
   * Queues `data` (copied) to send. Returns false once the stream holds
   * `highWater` bytes or more: wait for writable() before writing more.
   * Throws the stream's error once it was reset, refused or closed, and
   * StreamEndedError after end().
   */
  write(data: Uint8Array): boolean {
    if (this.error) throw this.error;
    if (this.send.fin !== "none") throw new StreamEndedError(this.id);
    if (data.length > 0) {
      this.send.write(data.slice());
      this.host.wake(this);
    }
    return this.send.buffered < this.highWater;
  }

  /** Resolves once bufferedBytes is below the high-water mark; rejects if the stream fails. */
  writable(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.send.buffered < this.highWater) return Promise.resolve();
    return new Promise((resolve, reject) => this.writableWaiters.push({ resolve, reject }));
  }

  /** Ends our direction after what was written (FIN). Reading goes on. */
  end(): void {
    if (this.error || this.send.fin !== "none") return;
    this.send.end();
    this.host.wake(this);
  }

  /** Resolves when everything we wrote and the FIN are acknowledged; rejects if the stream fails. */
  finished(): Promise<void> {
    if (this.send.done) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.finishedWaiters.push({ resolve, reject }));
  }

  /** Aborts both directions with an application code (1..2^32-1); the peer sees STREAM_RESET. */
  reset(code = RESET_DEFAULT): void {
    checkCode(code);
    if (this.error) return;
    this.host.abort(this, code, false);
  }

  /** Refuses a stream the peer opened (call it in onStream); the peer sees STREAM_REFUSED. */
  refuse(code = REFUSED_DEFAULT): void {
    checkCode(code);
    if (this.error) return;
    this.host.abort(this, code, !this.local && this.send.written === 0 && this.send.fin === "none");
  }

  /**
   * Called synchronously whenever data or the end arrives: for readers that
   * pull with readSync() instead of awaiting (e.g. under a simulated clock).
   */
  onReadable: (() => void) | undefined;

  /** The next chunk already here, without waiting; undefined when none is (check recvEnded for the end). */
  readSync(): Uint8Array | undefined {
    return this.error && this.error.code !== "TRANSPORT_CLOSED" ? undefined : this.take();
  }

  /** The next chunk of data, or undefined after the peer's FIN. Rejects if the stream fails. One reader at a time. */
  read(): Promise<Uint8Array | undefined> {
    // The session closing (e.g. the peer's Bye right after its last ACK) leaves what
    // already arrived readable, and a FIN that arrived still ends the stream cleanly.
    if (this.error?.code === "TRANSPORT_CLOSED" && !this.reader) {
      const chunk = this.take();
      if (chunk) return Promise.resolve(chunk);
      if (this.recvEnded) return Promise.resolve(undefined);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.reader) return Promise.reject(new BadArgumentError(`stream ${this.id}: read() while another read() waits`));
    const chunk = this.take();
    if (chunk) return Promise.resolve(chunk);
    if (this.recvEnded) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => (this.reader = { resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = await this.read();
      if (!chunk) return;
      yield chunk;
    }
  }

  // ---- transport side ----

  /** Received data and FIN are all taken by the application. */
  get recvEnded(): boolean {
    return this.finalSize !== undefined && this.recv.delivered === this.finalSize && this.readableHead === this.readable.length;
  }

  /** Bytes delivered in order and not yet read. */
  get unread(): number {
    let n = 0;
    for (let i = this.readableHead; i < this.readable.length; i++) n += this.readable[i]!.length;
    return n;
  }

  deliver(chunks: readonly Uint8Array[]): void {
    for (const c of chunks) {
      if (c.length === 0) continue;
      // Small pieces would each pin a whole packet buffer: merge them into
      // the previous unread chunk, or copy them out.
      const last = this.readable.length > this.readableHead ? this.readable[this.readable.length - 1]! : undefined;
      if (c.length < SMALL_CHUNK && last && last.length + c.length <= MERGE_UP_TO) {
        const merged = new Uint8Array(last.length + c.length);
        merged.set(last);
        merged.set(c, last.length);
        this.readable[this.readable.length - 1] = merged;
      } else this.readable.push(c.length < SMALL_CHUNK ? c.slice() : c);
    }
    this.wakeReader();
  }

  /** Wakes a waiting reader if there is data or the end. */
  wakeReader(): void {
    this.onReadable?.();
    if (!this.reader) return;
    const chunk = this.take();
    if (!chunk && !this.recvEnded) return;
    const r = this.reader;
    this.reader = undefined;
    r.resolve(chunk);
  }

  /** Drops data not yet read (the stream was aborted); returns how many bytes. */
  dropUnread(): number {
    const n = this.unread;
    this.readable = [];
    this.readableHead = 0;
    return n;
  }

  /** Acknowledgements freed room or completed the stream. */
  onSendProgress(): void {
    if (this.send.buffered < this.highWater) for (const w of this.writableWaiters.splice(0)) w.resolve();
    if (this.send.done) for (const w of this.finishedWaiters.splice(0)) w.resolve();
  }

  /** The stream failed: every waiter learns why. */
  fail(error: TransportError): void {
    if (this.error) return;
    this.error = error;
    const r = this.reader;
    this.reader = undefined;
    r?.reject(error);
    for (const w of this.writableWaiters.splice(0)) w.reject(error);
    if (!this.send.done) for (const w of this.finishedWaiters.splice(0)) w.reject(error);
  }

  private take(): Uint8Array | undefined {
    if (this.readableHead >= this.readable.length) return undefined;
    const chunk = this.readable[this.readableHead]!;
    this.readable[this.readableHead++] = EMPTY;
    if (this.readableHead === this.readable.length) {
      this.readable = [];
      this.readableHead = 0;
    }
    this.host.consumed(this, chunk.length);
    return chunk;
  }
}

function checkCode(code: number): void {
  if (!Number.isInteger(code) || code < 1 || code > 0xffffffff) throw new BadArgumentError(`stream code ${code}: want 1..2^32-1`);
}

const EMPTY = new Uint8Array(0);
/** Received pieces smaller than this are copied (or merged) rather than kept as views of their packet. */
const SMALL_CHUNK = 256;
const MERGE_UP_TO = 4096;
