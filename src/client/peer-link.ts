// One attempt to reach one peer, and the session that follows.
//
//   punching  --PunchAck for one of our probes-->  connected
//   punching  --punch timeout-------------------->  closed (PUNCH_FAILED)
//   connected --Bye / close()-------------------->  closed
//   connected --nothing heard for PEER_TIMEOUT--->  closed (PEER_LOST)
//
// "Connected" needs proof the peer received our packets: a PunchAck echoing
// the seq of one of our probes. A packet merely arriving is not enough.
// No I/O: sends through the injected function, times through the Clock.
import type { Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  MAX_CANDIDATES,
  PEER_KEEPALIVE_INTERVAL,
  PEER_TIMEOUT,
  PROBE_INTERVAL,
  PUNCH_TIMEOUT,
  SUSPECT_AFTER,
  SUSPECT_PROBE_INTERVAL,
  second,
} from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import { addrKey, formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { fromWireAddress, toWireAddress } from "../protocol/wire-address.ts";
import { ReliableReceiver, ReliableSender } from "./reliable.ts";

export type LinkState = "punching" | "connected" | "closed";

export interface LinkEvents {
  connected(address: Addr, rttMs: number): void;
  message(text: string): void;
  /** `wasConnected`: the link had reached "connected" before it closed. */
  closed(reason: string, code: "PUNCH_FAILED" | "PEER_LOST" | undefined, unacked: number, wasConnected: boolean): void;
}

export interface LinkOptions {
  selfName: string;
  peerName: string;
  token: Uint8Array;
  candidates: Addr[];
  punchTimeoutMs?: number;
  peerTimeoutMs?: number;
  keepaliveMs?: number;
}


export class PeerLink {
  state: LinkState = "punching";
  peerAddr: Addr | undefined;
  rttMs = 0;
  private candidates: Addr[];
  private probeSeq = 0n;
  private probesSent = new Map<bigint, number>();
  private lastHeard: number;
  private readonly startedAt: number;
  private probeTimer: Timer | undefined;
  private retransmitTimer: Timer | undefined;
  private readonly sender = new ReliableSender();
  private readonly receiver = new ReliableReceiver();

  constructor(
    private readonly clock: Clock,
    private readonly send: (body: Body, to: Addr) => void,
    private readonly log: Logger,
    private readonly events: LinkEvents,
    readonly opts: LinkOptions,
  ) {
    this.candidates = dedupe(opts.candidates).slice(0, MAX_CANDIDATES);
    this.startedAt = this.lastHeard = clock.now();
  }

  get token(): Uint8Array {
    return this.opts.token;
  }

  /** Chunks of chat not yet acknowledged by the peer. */
  get unacked(): number {
    return this.sender.unacked;
  }

  start(): void {
    this.log.info("punching", { peer: this.opts.peerName, candidates: this.candidates.map(formatAddr).join(",") });
    this.probeRound();
  }

  /** Queue a line for the peer (sent once connected, retransmitted until acked). */
  sendLine(text: string): void {
    this.sender.enqueue(text);
    this.pump();
  }

  close(reason = "closed"): void {
    if (this.state === "closed") return;
    if (this.state === "connected" && this.peerAddr) {
      const bye: Body = { case: "bye", value: { $typeName: "holepunch.v1.Bye", token: this.token, reason } };
      // Sent three times: a lost Bye costs the peer PEER_TIMEOUT of waiting.
      for (let i = 0; i < 3; i++) this.send(bye, this.peerAddr);
    }
    this.finish(`closed by us: ${reason}`, undefined);
  }

  /** A validated peer packet whose token is ours. */
  handle(env: Envelope, from: Addr): void {
    if (this.state === "closed") return;
    const b = env.body;
    switch (b.case) {
      case "punchProbe":
        this.heard();
        this.send(
          { case: "punchAck", value: { $typeName: "holepunch.v1.PunchAck", token: this.token, seq: b.value.seq, observed: toWireAddress(from) } },
          from,
        );
        if (this.state === "punching" && !this.candidates.some((c) => sameAddr(c, from)) && this.candidates.length < MAX_CANDIDATES) {
          // Peer-reflexive: the peer's NAT picked a mapping the server never saw.
          this.log.debug("learned peer-reflexive candidate", { address: formatAddr(from) });
          this.candidates.push(from);
          this.sendProbe(from);
        }
        return;
      case "punchAck":
        return this.onAck(b.value.seq, from, fromWireAddress(b.value.observed!));
      case "message": {
        if (this.state !== "connected") return; // the sender retransmits; we ack once we have proof
        this.heard();
        const lines = this.receiver.accept({ seq: b.value.seq, data: b.value.data, last: b.value.last });
        this.send(
          { case: "messageAck", value: { $typeName: "holepunch.v1.MessageAck", token: this.token, seq: this.receiver.cumulative } },
          from,
        );
        for (const line of lines) this.events.message(line);
        return;
      }
      case "messageAck":
        if (this.state !== "connected") return;
        this.heard();
        this.sender.ack(b.value.seq, this.clock.now());
        return this.pump();
      case "bye":
        return this.finish(`peer closed: ${b.value.reason || "bye"}`, undefined);
      default:
        return;
    }
  }

  private onAck(seq: bigint, from: Addr, observedBy: Addr): void {
    const sentAt = this.probesSent.get(seq);
    if (sentAt === undefined) return; // not one of our (recent) probes
    this.probesSent.delete(seq);
    const now = this.clock.now();
    this.heard();
    this.rttMs = now - sentAt;
    if (this.state === "punching") {
      this.state = "connected";
      this.peerAddr = from;
      this.probeTimer?.cancel();
      this.log.debug("connected", {
        peer: this.opts.peerName,
        address: formatAddr(from),
        rtt_ms: round1(this.rttMs),
        seen_as: formatAddr(observedBy),
        after_ms: Math.round(now - this.startedAt),
      });
      this.sender.seedRtt(this.rttMs);
      this.events.connected(from, this.rttMs);
      this.scheduleKeepalive();
      this.pump();
    } else if (this.peerAddr && !sameAddr(this.peerAddr, from)) {
      // The ack proves the new path works both ways: follow the peer there.
      this.log.info("peer moved", { from: formatAddr(this.peerAddr), to: formatAddr(from) });
      this.peerAddr = from;
    }
  }

  private probeRound(): void {
    if (this.state !== "punching") return;
    const timeout = this.opts.punchTimeoutMs ?? PUNCH_TIMEOUT;
    if (this.clock.now() - this.startedAt >= timeout) {
      return this.finish(`no path to ${this.opts.peerName} after ${Math.round(timeout / second)} s of punching`, "PUNCH_FAILED");
    }
    for (const c of this.candidates) this.sendProbe(c);
    this.probeTimer = this.clock.setTimer(PROBE_INTERVAL, () => this.probeRound());
  }

  private sendProbe(to: Addr): void {
    const seq = ++this.probeSeq;
    const now = this.clock.now();
    this.probesSent.set(seq, now);
    // Keep the table small: forget probes older than any plausible RTT.
    for (const [s, at] of this.probesSent) {
      if (now - at < 10 * second) break;
      this.probesSent.delete(s);
    }
    this.send(
      { case: "punchProbe", value: { $typeName: "holepunch.v1.PunchProbe", token: this.token, fromName: this.opts.selfName, seq } },
      to,
    );
  }

  private scheduleKeepalive(): void {
    if (this.state !== "connected") return;
    const now = this.clock.now();
    const silent = now - this.lastHeard;
    const peerTimeout = this.opts.peerTimeoutMs ?? PEER_TIMEOUT;
    if (silent >= peerTimeout) {
      return this.finish(`nothing heard from ${this.opts.peerName} for ${Math.round(silent / second)} s`, "PEER_LOST");
    }
    const interval = this.opts.keepaliveMs ?? PEER_KEEPALIVE_INTERVAL;
    const suspect = silent >= Math.min(SUSPECT_AFTER, peerTimeout / 2);
    this.probeTimer = this.clock.setTimer(suspect ? SUSPECT_PROBE_INTERVAL : Math.min(interval, peerTimeout - silent), () => {
      if (this.state !== "connected") return;
      if (this.peerAddr) this.sendProbe(this.peerAddr);
      this.scheduleKeepalive();
    });
  }

  private pump(): void {
    if (this.state !== "connected" || !this.peerAddr) return;
    const now = this.clock.now();
    for (const c of this.sender.due(now)) {
      this.send(
        { case: "message", value: { $typeName: "holepunch.v1.Message", token: this.token, seq: c.seq, data: c.data, last: c.last } },
        this.peerAddr,
      );
    }
    this.retransmitTimer?.cancel();
    const next = this.sender.nextDeadline();
    if (next !== undefined) this.retransmitTimer = this.clock.setTimer(next - now, () => this.pump());
  }

  private heard(): void {
    this.lastHeard = this.clock.now();
  }

  private finish(reason: string, code: "PUNCH_FAILED" | "PEER_LOST" | undefined): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected";
    this.state = "closed";
    this.probeTimer?.cancel();
    this.retransmitTimer?.cancel();
    this.events.closed(reason, code, this.sender.unacked, wasConnected);
  }
}

function dedupe(list: Addr[]): Addr[] {
  const seen = new Set<string>();
  return list.filter((a) => !seen.has(addrKey(a)) && seen.add(addrKey(a)));
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
