// The established session, above the cipher: keepalive Ping/Pong (liveness,
// RTT, following a peer whose address changed), the stream transport
// (src/transport/: reliable ordered streams, datagrams) with chat lines on a
// "chat" stream, and Bye. Everything it sends goes through the link, which
// seals it.
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
import { Transport, type Stream } from "../transport/index.ts";

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
  /** Which end of the transport this is (the two ends differ: stream ids never collide). */
  role: "a" | "b";
  /** The peer opened a stream other than chat: accept (true) or refuse. Absent: refused. */
  onStream?: (stream: Stream, label: string) => boolean;
  onDatagram?: (flow: number, data: Uint8Array) => void;
}

/** The stream label chat lines travel on (one per direction, opened by each side when it first writes). */
export const CHAT_LABEL = "chat";
const encoder = new TextEncoder();

export class SessionFrames {
  private stopped = false;
  private lastHeard = 0;
  private lastPingAt = -Infinity;
  /** Last proof our packets arrive on our path: a Pong, or a transport ACK. */
  private lastAnswerAt = 0;
  /** Since when we wait for an answer (data in flight or a ping out), if we do. */
  private waitingSince: number | undefined;
  private deadReported = false;
  private pingSeq = 0n;
  private pingsSent = new Map<bigint, number>();
  private keepaliveTimer: Timer | undefined;
  /** Created when the session starts (its RTT seeds the transport's). */
  transport: Transport | undefined;
  private chat: Stream | undefined;
  /** Lines written before the session started. */
  private early: string[] = [];
  rttMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sink: FrameSink,
    private readonly log: Logger,
    private readonly opts: SessionOptions,
  ) {}

  /** Chat bytes written and not yet acknowledged by the peer. */
  /** The path went silent while we waited for answers, and nothing has answered since. */
  get silent(): boolean {
    return this.deadReported;
  }

  get unacked(): number {
    return (this.chat?.bufferedBytes ?? 0) + this.early.reduce((n, l) => n + l.length + 1, 0);
  }

  start(rttMs: number): void {
    this.rttMs = rttMs;
    this.lastHeard = this.clock.now();
    this.lastAnswerAt = this.lastHeard;
    this.transport = new Transport({
      role: this.opts.role,
      clock: this.clock,
      initialRtt: Math.max(1, rttMs),
      send: (packet) => this.sink.sendFrame({ case: "transport", value: packet }),
      onStream: (stream, label) => (label === CHAT_LABEL ? (this.readChat(stream), true) : (this.opts.onStream?.(stream, label) ?? false)),
      onDatagram: (flow, data) => this.opts.onDatagram?.(flow, data),
      onCallbackError: (e) => this.log.error("stream handler failed", { error: (e as Error)?.stack ?? String(e) }),
    });
    // One ping at once: the peer learns which of our addresses we settled on
    // (birthday punching may leave each side with a different pair) and its
    // pong refreshes the RTT.
    this.ping();
    this.scheduleKeepalive();
    for (const line of this.early.splice(0)) this.sendLine(line);
  }

  stop(): void {
    this.stopped = true;
    this.keepaliveTimer?.cancel();
    this.transport?.close();
  }

  /** One chat line (newline-terminated on the chat stream; the receiver splits on newlines). */
  sendLine(text: string): void {
    if (this.stopped) return;
    if (!this.transport) return void this.early.push(text);
    this.chat ??= this.transport.open(CHAT_LABEL);
    this.chat.write(encoder.encode(`${text.replace(/\n/g, " ")}\n`));
  }

  /** Reads the peer's chat stream as it arrives (synchronously: no await between the clock and the lines): one line per newline. */
  private readChat(stream: Stream): void {
    const decoder = new TextDecoder();
    let partial = "";
    stream.onReadable = () => {
      for (let chunk = stream.readSync(); chunk; chunk = stream.readSync()) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop()!;
        for (const line of lines) this.sink.deliver(line);
      }
    };
    stream.onReadable();
  }

  sendBye(reason: string): void {
    // Sent three times: a lost Bye costs the peer PEER_TIMEOUT of waiting.
    for (let i = 0; i < 3; i++) this.sink.sendFrame({ case: "bye", value: { $typeName: "holepunch.v1.Bye", reason } });
  }

  onFrame(frame: PeerFrame, from: Addr): void {
    if (this.stopped) return;
    this.lastHeard = this.clock.now();
    const f = frame.frame;
    if (f.case === "pong" || (f.case === "transport" && f.value.ack)) {
      this.lastAnswerAt = this.lastHeard;
      this.deadReported = false;
    }
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
      case "transport":
        return this.transport?.receive(f.value); // before start: the peer retransmits
      case "bye":
        return this.sink.ended(`peer closed: ${f.value.reason || "bye"}`, undefined);
      default:
        return;
    }
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
    const inFlight = this.transport?.stats.bytesInFlight ?? 0;
    const waiting = inFlight > 0 || this.pingsSent.size > 0;
    this.waitingSince = waiting ? (this.waitingSince ?? now) : undefined;
    // Unanswered: what we send on our path gets no ACK or Pong back (the peer may
    // still reach us another way, e.g. through the relay: that is not an answer).
    const unanswered = waiting ? now - Math.max(this.lastAnswerAt, this.waitingSince!) : 0;
    if (waiting && unanswered >= DEAD_PATH_AFTER && !this.deadReported) {
      this.deadReported = true;
      this.log.debug("no answer on this path", { peer: this.opts.peerName, silent_ms: Math.round(silent), in_flight: inFlight });
      this.sink.pathDead?.();
    }
    const interval =
      waiting && (silent >= QUICK_SUSPECT_AFTER || unanswered >= QUICK_SUSPECT_AFTER)
        ? QUICK_PROBE_INTERVAL
        : silent >= Math.min(SUSPECT_AFTER, this.opts.peerTimeoutMs / 2)
          ? SUSPECT_PROBE_INTERVAL
          : this.opts.keepaliveMs;
    if (now - this.lastPingAt >= interval) this.ping();
    this.keepaliveTimer = this.clock.setTimer(LIVENESS_TICK, () => this.scheduleKeepalive());
  }

  /** The session now runs on another path (the transport's loss recovery resends what was in flight). */
  pathChanged(): void {
    this.deadReported = false;
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
