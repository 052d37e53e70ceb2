// The established session, above the cipher: keepalive Ping/Pong (liveness,
// RTT, following a peer whose address changed), reliable chat (reliable.ts)
// and Bye. Everything it sends goes through the link, which seals it.
import type { PeerFrame } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  DEAD_PATH_AFTER,
  LIVENESS_TICK,
  QUICK_PROBE_INTERVAL,
  QUICK_SUSPECT_AFTER,
  SUSPECT_AFTER,
  SUSPECT_PROBE_INTERVAL,
  second,
} from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Addr } from "../net/address.ts";
import { ReliableReceiver, ReliableSender } from "./reliable.ts";

export interface FrameSink {
  /** Seals and sends a frame (to the peer's current address unless `to`). */
  sendFrame(frame: PeerFrame["frame"], to?: Addr): void;
  deliver(text: string): void;
  /** An authenticated answer came from `to`: the peer is there now. */
  peerMoved(to: Addr): void;
  ended(reason: string, code: "PEER_LOST" | undefined): void;
  /** Silence while we wait for answers: the path may be dead (the link can fail over). */
  pathDead?(): void;
}

export interface SessionOptions {
  peerName: string;
  keepaliveMs: number;
  peerTimeoutMs: number;
}

export class SessionFrames {
  private started = false;
  private stopped = false;
  private lastHeard = 0;
  private lastPingAt = -Infinity;
  private deadReported = false;
  private pingSeq = 0n;
  private pingsSent = new Map<bigint, number>();
  private keepaliveTimer: Timer | undefined;
  private retransmitTimer: Timer | undefined;
  private readonly sender = new ReliableSender();
  private readonly receiver = new ReliableReceiver();
  rttMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sink: FrameSink,
    private readonly log: Logger,
    private readonly opts: SessionOptions,
  ) {}

  get unacked(): number {
    return this.sender.unacked;
  }

  start(rttMs: number): void {
    this.started = true;
    this.rttMs = rttMs;
    this.lastHeard = this.clock.now();
    this.sender.seedRtt(rttMs);
    // One ping at once: the peer learns which of our addresses we settled on
    // (birthday punching may leave each side with a different pair) and its
    // pong refreshes the RTT.
    this.ping();
    this.scheduleKeepalive();
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.keepaliveTimer?.cancel();
    this.retransmitTimer?.cancel();
  }

  sendLine(text: string): void {
    this.sender.enqueue(text);
    this.pump();
  }

  sendBye(reason: string): void {
    // Sent three times: a lost Bye costs the peer PEER_TIMEOUT of waiting.
    for (let i = 0; i < 3; i++) this.sink.sendFrame({ case: "bye", value: { $typeName: "holepunch.v1.Bye", reason } });
  }

  onFrame(frame: PeerFrame, from: Addr): void {
    if (this.stopped) return;
    this.lastHeard = this.clock.now();
    this.deadReported = false;
    const f = frame.frame;
    switch (f.case) {
      case "ping":
        return this.sink.sendFrame({ case: "pong", value: { $typeName: "holepunch.v1.Pong", seq: f.value.seq } }, from);
      case "pong": {
        const sentAt = this.pingsSent.get(f.value.seq);
        if (sentAt === undefined) return;
        // This answer makes older unanswered pings moot.
        for (const s of this.pingsSent.keys()) if (s <= f.value.seq) this.pingsSent.delete(s);
        this.rttMs = this.clock.now() - sentAt;
        return this.sink.peerMoved(from);
      }
      case "message": {
        const lines = this.receiver.accept({ seq: f.value.seq, data: f.value.data, last: f.value.last });
        this.sink.sendFrame({ case: "messageAck", value: { $typeName: "holepunch.v1.MessageAck", seq: this.receiver.cumulative } }, from);
        for (const line of lines) this.sink.deliver(line);
        return;
      }
      case "messageAck":
        this.sender.ack(f.value.seq, this.clock.now());
        return this.pump();
      case "bye":
        return this.sink.ended(`peer closed: ${f.value.reason || "bye"}`, undefined);
      default:
        return;
    }
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    const now = this.clock.now();
    for (const c of this.sender.due(now)) {
      this.sink.sendFrame({ case: "message", value: { $typeName: "holepunch.v1.Message", seq: c.seq, data: c.data, last: c.last } });
    }
    this.retransmitTimer?.cancel();
    const next = this.sender.nextDeadline();
    if (next !== undefined) this.retransmitTimer = this.clock.setTimer(next - now, () => this.pump());
  }

  /**
   * Liveness, every TICK: keepalive pings (every keepaliveMs), faster pings
   * once we wait for an answer that does not come, "path dead" after
   * DEAD_PATH_AFTER of silence while waiting (the link may fail over), and
   * PEER_LOST after peerTimeoutMs of silence.
   */
  private scheduleKeepalive(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const silent = now - this.lastHeard;
    if (silent >= this.opts.peerTimeoutMs) {
      return this.sink.ended(`nothing heard from ${this.opts.peerName} for ${Math.round(silent / second)} s`, "PEER_LOST");
    }
    const waiting = this.sender.unacked > 0 || this.pingsSent.size > 0;
    if (waiting && silent >= DEAD_PATH_AFTER && !this.deadReported) {
      this.deadReported = true;
      this.log.debug("no answer on this path", { peer: this.opts.peerName, silent_ms: Math.round(silent), unacked: this.sender.unacked });
      this.sink.pathDead?.();
    }
    const interval =
      waiting && silent >= QUICK_SUSPECT_AFTER
        ? QUICK_PROBE_INTERVAL
        : silent >= Math.min(SUSPECT_AFTER, this.opts.peerTimeoutMs / 2)
          ? SUSPECT_PROBE_INTERVAL
          : this.opts.keepaliveMs;
    if (now - this.lastPingAt >= interval) this.ping();
    this.keepaliveTimer = this.clock.setTimer(LIVENESS_TICK, () => this.scheduleKeepalive());
  }

  /** The session now runs on another path: resend what is in flight there at once. */
  pathChanged(): void {
    this.deadReported = false;
    this.sender.retransmitAllNow(this.clock.now());
    this.pump();
  }

  private ping(): void {
    const seq = ++this.pingSeq;
    const now = this.clock.now();
    this.lastPingAt = now;
    this.pingsSent.set(seq, now);
    for (const [s, at] of this.pingsSent) {
      if (now - at < 60 * second) break;
      this.pingsSent.delete(s);
    }
    this.sink.sendFrame({ case: "ping", value: { $typeName: "holepunch.v1.Ping", seq } });
  }
}
