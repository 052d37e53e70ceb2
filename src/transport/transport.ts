// The transport: reliable ordered streams and unreliable datagrams over an
// unreliable, already encrypted datagram path. No I/O and no real timers: it
// is given a Clock and a send function, and fed what arrives with receive().
// One TransportPacket = one sealed datagram; options in options.ts.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Clock, Timer } from "../clock.ts";
import { TransportPacketSchema, type TransportPacket } from "../gen/holepunch/v1/holepunch_pb.ts";
import { AckState } from "./ack-ranges.ts";
import { MAX_ACK_DELAY, MAX_ACK_RANGES, MAX_RECEIVED_PACKET_BYTES, PTO_PROBE_PACKETS } from "./constants.ts";
import { TransportClosedError } from "./errors.ts";
import { resolveOptions, type TransportOptions } from "./options.ts";
import { PacketDraft } from "./packet.ts";
import { Recovery, type SentPacket } from "./recovery.ts";
import { newStats, snapshot, type Counters, type TransportStats } from "./stats.ts";
import { fillControls, fillStreams } from "./stream-send.ts";
import type { Stream } from "./stream.ts";
import { StreamTable } from "./streams.ts";
import { checkPacket } from "./validate.ts";
import { datagramSize, varintField } from "./wire-size.ts";

export type { TransportOptions } from "./options.ts";

export class Transport {
  private readonly clock: Clock;
  private readonly budget: number;
  private readonly ack = new AckState(MAX_ACK_DELAY);
  private readonly recovery: Recovery;
  private readonly table: StreamTable;
  private readonly c: Counters = newStats();
  private nextPn = 0;
  private probes = 0;
  private datagrams: Array<{ flow: number; data: Uint8Array }> = [];
  private datagramBytes = 0;
  private flushQueued = false;
  private flushing = false;
  private flushAgain = false;
  private cwndLimited = false;
  private ackTimer: Timer | undefined;
  private ackTimerAt = -1;
  private lossTimer: Timer | undefined;
  private lossTimerAt = -1;
  private isClosed = false;
  /** Largest datagram payload sendDatagram() accepts, bytes. */
  /** sendDatagram() turned one away for want of window since the last flush. */
  private datagramsRefused = false;
  readonly maxDatagramBytes: number;

  constructor(private readonly o: TransportOptions) {
    const r = resolveOptions(o);
    this.clock = o.clock;
    this.budget = r.budget;
    this.recovery = new Recovery(this.budget, MAX_ACK_DELAY, r.initialRtt);
    this.table = new StreamTable({
      role: o.role,
      streamWindow: r.streamWindow,
      sessionWindow: r.sessionWindow,
      highWater: r.highWater,
      onStream: o.onStream,
      wake: () => this.scheduleFlush(),
      report: (e) => this.report(e),
    });
    let max = this.budget;
    while (max > 0 && PN_RESERVE + datagramSize(0xffffffff, max) > this.budget) max--;
    this.maxDatagramBytes = max;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get stats(): TransportStats {
    return snapshot(this.c, this.recovery, this.table);
  }

  /** Opens a stream; `label` (e.g. "chat", "tcp:NAME") travels with its first chunk. */
  open(label = ""): Stream {
    if (this.isClosed) throw new TransportClosedError();
    return this.table.open(label);
  }

  /**
   * Sends a datagram, best effort: never retransmitted. False (and counted
   * in datagramsDropped) if it is larger than maxDatagramBytes, the transport
   * is closed, or the congestion window is full; it may also be dropped
   * later in this turn if the window fills first.
   */
  sendDatagram(flow: number, data: Uint8Array): boolean {
    const cc = this.recovery.cc;
    if (this.isClosed || data.length > this.maxDatagramBytes || !(flow >= 0 && flow <= 0xffffffff) || cc.bytesInFlight + this.datagramBytes + data.length > cc.cwnd) {
      this.c.datagramsDropped++;
      if (!this.isClosed && data.length <= this.maxDatagramBytes) this.datagramsRefused = true;
      return false;
    }
    this.datagrams.push({ flow, data: data.slice() });
    this.datagramBytes += data.length;
    this.scheduleFlush();
    return true;
  }

  /** Decodes and processes one packet; anything malformed is counted and dropped. */
  receiveBytes(bytes: Uint8Array): void {
    if (this.isClosed) return void this.c.packetsAfterClose++;
    let p: TransportPacket;
    try {
      if (bytes.length > MAX_RECEIVED_PACKET_BYTES) throw new Error("too large");
      p = fromBinary(TransportPacketSchema, bytes);
    } catch {
      this.c.malformedPackets++;
      return;
    }
    this.receive(p);
  }

  /** Processes one packet. Never throws: malformed input is counted and dropped. */
  receive(p: TransportPacket): void {
    if (this.isClosed) return void this.c.packetsAfterClose++;
    try {
      this.process(p);
    } catch {
      this.c.malformedPackets++;
    }
    this.flush();
  }

  /** Stops timers and sending; every stream fails with TRANSPORT_CLOSED. Sends nothing. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.ackTimer?.cancel();
    this.lossTimer?.cancel();
    this.datagrams = [];
    this.table.closeAll(new TransportClosedError());
  }

  private process(p: TransportPacket): void {
    const now = this.clock.now();
    const ranges = checkPacket(p, this.recovery.largestSent);
    if (ranges === false) return void this.c.malformedPackets++;
    const ackEliciting = p.chunks.length > 0 || p.controls.length > 0 || p.datagrams.length > 0 || p.maxData > 0n || p.ackElicitingPing;
    if (!this.ack.onReceived(Number(p.number), ackEliciting, now)) return void this.c.duplicatePackets++;
    this.c.packetsReceived++;
    if (ranges) {
      const out = this.recovery.onAck(ranges, (p.ack?.delayUs ?? 0) / 1000, now, !this.cwndLimited);
      if (out) {
        this.onLost(out.lost);
        this.onAcked(out.acked);
      }
    }
    if (p.maxData > 0n) this.table.onMaxData(Number(p.maxData));
    for (const chunk of p.chunks) if (!this.isClosed) this.table.onChunk(chunk);
    for (const control of p.controls) if (!this.isClosed) this.table.onControl(control);
    for (const d of p.datagrams) {
      if (this.isClosed) break;
      this.c.datagramsReceived++;
      try {
        this.o.onDatagram?.(d.flow, d.data);
      } catch (e) {
        this.report(e);
      }
    }
  }

  private onAcked(acked: readonly SentPacket[]): void {
    for (const p of acked) {
      if (p.ackLargest >= 0) this.ack.onAckAcknowledged(p.ackLargest);
      this.table.onFramesAcked(p);
    }
  }

  private onLost(lost: readonly SentPacket[]): void {
    for (const p of lost) {
      if (p.ackEliciting) this.c.packetsLost++;
      this.c.datagramsLost += p.datagrams;
      this.table.onFramesLost(p);
    }
  }

  private scheduleFlush(): void {
    if (this.flushQueued || this.isClosed) return;
    this.flushQueued = true;
    const run = () => {
      this.flushQueued = false;
      this.flush();
    };
    if (this.clock.defer) this.clock.defer(run);
    else queueMicrotask(run);
  }

  /** Sends every packet that is due and fits the congestion window, then arms the timers. */
  private flush(at?: number): void {
    if (this.isClosed) return;
    if (this.flushing) return void (this.flushAgain = true);
    this.flushing = true;
    try {
      const now = Math.max(this.clock.now(), at ?? 0);
      const cc = this.recovery.cc;
      for (;;) {
        const probe = this.probes > 0;
        // The window is never exceeded (probes aside): the last packet of a window is cut to what is left of it.
        const room = cc.cwnd - cc.bytesInFlight;
        const open = probe || room >= MIN_WINDOW_ROOM;
        const draft = new PacketDraft(this.nextPn, open && !probe ? Math.min(this.budget, Math.floor(room)) : this.budget, now);
        if (this.ack.pending && (open || this.ack.due(now))) this.addAck(draft, now);
        if (open) {
          fillControls(draft, this.table);
          while (this.datagrams.length > 0 && draft.addDatagram(this.datagrams[0]!.flow, this.datagrams[0]!.data)) {
            this.datagramBytes -= this.datagrams.shift()!.data.length;
            this.c.datagramsSent++;
          }
          this.c.bytesRetransmitted += fillStreams(draft, this.table);
          if (probe && !draft.ackEliciting) draft.addPing();
        }
        if (draft.isEmpty || (!draft.ackEliciting && !this.ack.due(now))) break;
        this.emit(draft);
        if (probe) this.probes--;
        if (!open) break;
      }
      // Datagrams turned away for want of window count as demand too: a
      // datagram-only sender (UDP forwarding) must grow the window like a stream.
      const datagramDemand = this.datagramsRefused || this.datagrams.length > 0;
      this.c.datagramsDropped += this.datagrams.length;
      this.datagrams = [];
      this.datagramBytes = 0;
      this.datagramsRefused = false;
      // (A refused datagram means the window was the limit, whatever room is left: it did not fit.)
      this.cwndLimited = datagramDemand || (cc.cwnd - cc.bytesInFlight < MIN_WINDOW_ROOM && (this.table.sendQueue.length > 0 || this.table.controls.length > 0));
      this.armTimers(now);
    } finally {
      this.flushing = false;
    }
    if (this.flushAgain) {
      this.flushAgain = false;
      this.flush();
    }
  }

  /** Puts an ACK in the packet, fewer ranges if the full one does not fit; nothing to report clears the debt. */
  private addAck(draft: PacketDraft, now: number): void {
    for (const ranges of [MAX_ACK_RANGES, 8, 1]) {
      const a = this.ack.build(now, ranges);
      if (!a) return this.ack.onAckSent();
      if (draft.addAck(a.fields, a.delayUs)) return;
    }
  }

  private emit(draft: PacketDraft): void {
    const packet = draft.message();
    if (draft.hasAck) this.ack.onAckSent();
    this.nextPn++;
    this.c.packetsSent++;
    this.c.bytesSent += draft.size;
    if (this.probes > 0) this.c.probesSent++;
    this.onLost(this.recovery.onSent(draft.record));
    try {
      if (this.o.sendBytes) this.o.sendBytes(toBinary(TransportPacketSchema, packet));
      else this.o.send!(packet);
    } catch {
      this.c.sendErrors++;
    }
  }

  private armTimers(now: number): void {
    const ackAt = this.ack.immediate ? undefined : this.ack.deadline;
    if (ackAt !== this.ackTimerAt) {
      this.ackTimer?.cancel();
      this.ackTimer = undefined;
      this.ackTimerAt = ackAt ?? -1;
      if (ackAt !== undefined) this.ackTimer = this.clock.setTimer(ackAt - now, () => this.onTimer(true, ackAt));
    }
    const lossAt = this.recovery.deadline();
    if ((lossAt ?? -1) !== this.lossTimerAt) {
      this.lossTimer?.cancel();
      this.lossTimer = undefined;
      this.lossTimerAt = lossAt ?? -1;
      if (lossAt !== undefined) this.lossTimer = this.clock.setTimer(lossAt - now, () => this.onTimer(false, lossAt));
    }
  }

  /** A timer set for `at` fired. Timers may fire a hair early (float rounding, coarse clocks): it is `at` at least. */
  private onTimer(ack: boolean, at: number): void {
    if (this.isClosed) return;
    const now = Math.max(this.clock.now(), at);
    if (ack) {
      this.ackTimer = undefined;
      this.ackTimerAt = -1;
    } else {
      this.lossTimer = undefined;
      this.lossTimerAt = -1;
      const out = this.recovery.onTimeout(now);
      this.onLost(out.lost);
      if (out.probe) this.probes = PTO_PROBE_PACKETS;
    }
    this.flush(now);
  }

  private report(e: unknown): void {
    this.c.callbackErrors++;
    if (this.o.onCallbackError) this.o.onCallbackError(e);
    else
      queueMicrotask(() => {
        throw e;
      });
  }
}

/** Less room than this left in the congestion window: wait for ACKs rather than send a sliver. */
const MIN_WINDOW_ROOM = 256;
/** Room kept for the packet number when sizing datagrams (numbers below 2^49). */
const PN_RESERVE = varintField(2 ** 49 - 1);
