// Two transports joined by an in-memory lossy link, in simulated time: a
// ManualClock, one-way delay, uniform jitter (which reorders), random loss and
// duplication per direction, all from a seeded PRNG. Packets cross as bytes
// (toBinary / fromBinary), so the size budget and the codec are exercised.
import { ManualClock, type Clock, type Timer } from "../../src/clock.ts";
import { Transport, type TransportOptions } from "../../src/transport/index.ts";
import { prng } from "./prng.ts";

export type Side = "a" | "b";

export interface LinkOptions {
  seed?: number;
  /** One-way delay, ms. */
  delayMs?: number;
  /** Extra delay, uniform in [0, jitterMs), for the packets picked by reorderPercent: later ones overtake them. */
  jitterMs?: number;
  /** Share of packets delayed by the jitter, percent (default 100: every packet, heavy reordering within bursts). */
  reorderPercent?: number;
  /** Loss per direction, percent. */
  lossPercent?: number;
  /** Loss towards a / towards b, percent (override lossPercent). */
  lossToA?: number;
  lossToB?: number;
  duplicatePercent?: number;
  /** Sees every packet leaving `from`: return bytes to deliver, or null to drop. */
  tap?: (bytes: Uint8Array, from: Side) => Uint8Array | null;
}

interface InFlight {
  at: number;
  seq: number;
  to: Side;
  bytes: Uint8Array;
}

type EndpointOptions = Omit<TransportOptions, "role" | "clock" | "send" | "sendBytes">;

/**
 * A ManualClock that also knows its next deadline, so a simulation can jump
 * from event to event instead of stepping through idle milliseconds.
 */
export class SteppingClock implements Clock {
  readonly manual = new ManualClock();
  private deadlines: Array<{ at: number; live: boolean }> = [];

  now(): number {
    return this.manual.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry = { at: this.now() + Math.max(0, ms), live: true };
    heapPush(this.deadlines, entry, (x, y) => x.at < y.at);
    const t = this.manual.setTimer(ms, () => {
      entry.live = false;
      fn();
    });
    return {
      cancel: () => {
        entry.live = false;
        t.cancel();
      },
    };
  }

  advance(ms: number): void {
    this.manual.advance(ms);
  }

  /** The earliest pending timer's deadline, if any. */
  nextDeadline(): number | undefined {
    while (this.deadlines.length > 0 && !this.deadlines[0]!.live) heapPop(this.deadlines, (x, y) => x.at < y.at);
    return this.deadlines[0]?.at;
  }
}

export class LossyLink {
  readonly clock = new SteppingClock();
  readonly a: Transport;
  readonly b: Transport;
  readonly random: () => number;
  /** Per direction (by sender): packets sent, lost, duplicated; largest packet seen. */
  readonly sent = { a: 0, b: 0 };
  readonly lost = { a: 0, b: 0 };
  readonly duplicated = { a: 0, b: 0 };
  largestPacket = 0;
  private heap: InFlight[] = [];
  private seq = 0;
  private timer: Timer | undefined;
  private timerAt = -1;
  private delivering = false;

  constructor(
    readonly o: LinkOptions = {},
    optsA: EndpointOptions = {},
    optsB: EndpointOptions = {},
  ) {
    this.random = prng(o.seed ?? 1);
    this.a = new Transport({ ...optsA, role: "a", clock: this.clock, sendBytes: (b) => this.send("a", b) });
    this.b = new Transport({ ...optsB, role: "b", clock: this.clock, sendBytes: (b) => this.send("b", b) });
  }

  /** Packets on the wire now. */
  get inFlight(): number {
    return this.heap.length;
  }

  /**
   * Runs simulated time from event to event (at most `maxStepMs` apart),
   * letting promises settle after each, until `done()` or `maxMs` of
   * simulated time passed. Returns the time.
   */
  async run(done: () => boolean, maxMs: number, maxStepMs = 1000): Promise<number> {
    const end = this.clock.now() + maxMs;
    await settle();
    while (!done() && this.clock.now() < end) {
      const now = this.clock.now();
      const next = this.clock.nextDeadline() ?? Infinity;
      this.clock.advance(Math.max(0, Math.min(next, now + maxStepMs, end) - now));
      await settle();
    }
    return this.clock.now();
  }

  private send(from: Side, bytes: Uint8Array): void {
    this.sent[from]++;
    if (bytes.length > this.largestPacket) this.largestPacket = bytes.length;
    const tapped = this.o.tap ? this.o.tap(bytes, from) : bytes;
    if (!tapped) return;
    const loss = (from === "a" ? this.o.lossToB : this.o.lossToA) ?? this.o.lossPercent ?? 0;
    if (this.random() * 100 < loss) {
      this.lost[from]++;
      return;
    }
    const to: Side = from === "a" ? "b" : "a";
    this.enqueue(to, tapped);
    if (this.random() * 100 < (this.o.duplicatePercent ?? 0)) {
      this.duplicated[from]++;
      this.enqueue(to, tapped);
    }
  }

  private enqueue(to: Side, bytes: Uint8Array): void {
    let at = this.clock.now() + (this.o.delayMs ?? 20);
    if (this.random() * 100 < (this.o.reorderPercent ?? 100)) at += this.random() * (this.o.jitterMs ?? 0);
    heapPush(this.heap, { at, seq: this.seq++, to, bytes }, less);
    if (!this.delivering) this.arm();
  }

  private arm(): void {
    const next = this.heap[0];
    if (next && next.at === this.timerAt) return;
    this.timer?.cancel();
    this.timerAt = next ? next.at : -1;
    this.timer = next ? this.clock.setTimer(next.at - this.clock.now(), () => this.deliver()) : undefined;
  }

  private deliver(): void {
    this.timerAt = -1;
    this.delivering = true;
    try {
      while (this.heap.length > 0 && this.heap[0]!.at <= this.clock.now()) {
        const p = heapPop(this.heap, less)!;
        (p.to === "a" ? this.a : this.b).receiveBytes(p.bytes);
      }
    } finally {
      this.delivering = false;
    }
    this.arm();
  }
}

/** Lets every pending promise callback run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function less(x: InFlight, y: InFlight): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

function heapPush<T>(h: T[], e: T, lt: (x: T, y: T) => boolean): void {
  h.push(e);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!lt(h[i]!, h[parent]!)) break;
    [h[i], h[parent]] = [h[parent]!, h[i]!];
    i = parent;
  }
}

function heapPop<T>(h: T[], lt: (x: T, y: T) => boolean): T | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last !== undefined) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && lt(h[l]!, h[m]!)) m = l;
      if (r < h.length && lt(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  return top;
}
