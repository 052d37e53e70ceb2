// One attempt to reach one peer, and the encrypted session that follows.
//
//   punching  --PunchAck with a valid proof for one of our probes-->  connected
//   punching  --punch timeout-------------------------------------->  closed (PUNCH_FAILED)
//   connected --Bye / close()-------------------------------------->  closed
//   connected --nothing heard for PEER_TIMEOUT--------------------->  closed (PEER_LOST)
//
// Probes and acks carry a signed ephemeral key (handshake.ts): a probe whose
// signature is not by the peer key the server vouched for is dropped.
// "Connected" needs proof the peer received our packets: a PunchAck echoing
// one of our probe seqs with a MAC under the session key derived from our
// ephemeral. After that every packet is a Sealed PeerFrame (AES-256-GCM).
// No I/O: sends through the injected function, times through the Clock.
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { PeerFrameSchema, type Envelope, type Handshake, type PeerFrame } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  DIRECT_RETRY_FOR,
  DIRECT_RETRY_INTERVAL,
  MAX_CANDIDATES,
  PREFER_V6_FOR,
  PREDICT_FOR,
  PEER_KEEPALIVE_INTERVAL,
  PEER_TIMEOUT,
  PROBE_INTERVAL,
  PUNCH_TIMEOUT,
  RELAY_AFTER,
  BIRTHDAY_RELAY_AFTER,
  second,
} from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import { addrKey, formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { validateFrame } from "../protocol/validate.ts";
import { fromWireAddress, toWireAddress } from "../protocol/wire-address.ts";
import { SessionFrames, type FrameSink } from "./session-frames.ts";
import { LinkKeys } from "./link-keys.ts";
import { BirthdayPlan, type BirthdayRole } from "./birthday.ts";
import { predictedAddresses } from "./prediction.ts";
import { dedupe, isRelay, isV6, RELAY, type LinkEvents, type LinkOptions, type LinkState, type PathKind } from "./link-types.ts";

export { isRelay, RELAY, type ExtraSockets, type LinkEvents, type LinkOptions, type LinkState, type PathKind } from "./link-types.ts";

export class PeerLink implements FrameSink {
  state: LinkState = "punching";
  peerAddr: Addr | undefined;
  path: PathKind = "direct";
  /** The extra socket the session runs on (birthday punching), else undefined: the main socket. */
  via: number | undefined;
  private birthday: BirthdayPlan | undefined;
  /** Extra sockets the peer reached us on: it may have picked one of them, so they stay open. */
  private readonly hitSockets = new Set<number>();
  rttMs = 0;
  private candidates: Addr[];
  private probeSeq = 0n;
  private probesSent = new Map<bigint, number>();
  /** When this attempt started (its introduction is at most this old). */
  readonly startedAt: number;
  private probeTimer: Timer | undefined;
  /** Connected over IPv4 directly: until then, keep probing the peer's IPv6 candidates (and keep the keys that prove them). */
  private preferV6Until = 0;
  /** Addresses a peer's probe came from that we probed back at once. */
  private readonly triggered = new Set<string>();
  private birthdayStarted = false;
  /** The peer's port step (a sequential NAT), and since when its next ports are probed. */
  private predictStep: number | undefined;
  private predictFrom = 0;
  private readonly crypto: LinkKeys;
  readonly session: SessionFrames;

  constructor(
    private readonly clock: Clock,
    /** Sends from the main socket, or from extra socket `via` (birthday punching). */
    private readonly send: (body: Body, to: Addr, via?: number) => void,
    private readonly log: Logger,
    private readonly events: LinkEvents,
    readonly opts: LinkOptions,
  ) {
    this.candidates = dedupe(opts.candidates).slice(0, MAX_CANDIDATES);
    this.startedAt = clock.now();
    this.predictStep = opts.predictStep;
    this.predictFrom = this.startedAt;
    this.crypto = new LinkKeys(opts.identity, opts.peerKey, opts.token, () => clock.now(), opts.rekey);
    this.session = new SessionFrames(clock, this, log, {
      peerName: opts.peerName,
      keepaliveMs: opts.keepaliveMs ?? PEER_KEEPALIVE_INTERVAL,
      peerTimeoutMs: opts.peerTimeoutMs ?? PEER_TIMEOUT,
      // Names differ (a client cannot connect to itself): the smaller one is end "a".
      role: opts.selfName < opts.peerName ? "a" : "b",
      onStream: opts.onStream,
      onDatagram: opts.onDatagram,
    });
  }

  get token(): Uint8Array {
    return this.opts.token;
  }

  get unacked(): number {
    return this.session.unacked;
  }

  start(): void {
    this.log.info("punching", { peer: this.opts.peerName, candidates: this.candidates.map(formatAddr).join(","), birthday: this.opts.birthday });
    this.startBirthday(this.opts.birthday);
    this.probeRound();
  }

  /** A repeated Initiate told us both NATs' mappings (they were not known at the first): punch accordingly. */
  updateStrategy(s: { birthday?: BirthdayRole; predictStep?: number }): void {
    if (this.state !== "punching") return;
    if (s.predictStep && !this.predictStep) {
      this.predictStep = s.predictStep;
      this.predictFrom = this.clock.now();
    }
    this.startBirthday(s.birthday);
  }

  private startBirthday(role: BirthdayRole | undefined): void {
    if (!role || !this.candidates[0] || this.birthday || this.birthdayStarted) return;
    this.birthdayStarted = true;
    const plan = (this.birthday = new BirthdayPlan(role, this.candidates[0], this.clock.now(), this.opts.random));
    const wanted = BirthdayPlan.socketsWanted(role);
    if (wanted > 0) this.opts.sockets?.open(wanted, (ids) => (this.state === "closed" || this.birthday !== plan ? this.opts.sockets?.close(ids) : plan.useSockets(ids)));
  }

  /** Candidates learned later (a repeated Initiate): probe the new ones; an IPv6 one may still win over IPv4. */
  addCandidates(list: Addr[]): void {
    const fresh = dedupe(list).filter((a) => !this.candidates.some((c) => sameAddr(c, a))).slice(0, MAX_CANDIDATES - this.candidates.length);
    if (fresh.length === 0 || this.state === "closed") return;
    this.candidates.push(...fresh);
    this.log.debug("more candidates", { peer: this.opts.peerName, added: fresh.map(formatAddr).join(",") });
    if (this.state === "punching") return fresh.forEach((a) => this.sendProbe(a));
    if (this.path === "direct" && this.peerAddr && !isV6(this.peerAddr) && fresh.some(isV6) && this.crypto.canProve) {
      this.preferV6Until = this.clock.now() + PREFER_V6_FOR;
      this.probeTimer?.cancel();
      this.v6Round();
    }
  }

  sendLine(text: string): void {
    this.session.sendLine(text);
  }

  close(reason = "closed"): void {
    if (this.state === "closed") return;
    if (this.state === "connected") this.session.sendBye(reason);
    this.finish(`closed by us: ${reason}`, undefined);
  }

  /** A validated peer packet whose token is ours. */
  handle(env: Envelope, from: Addr, via?: number): void {
    if (this.state === "closed") return;
    const b = env.body;
    if (via !== undefined && b.case === "punchProbe") this.hitSockets.add(via);
    switch (b.case) {
      case "punchProbe": {
        if (!this.acceptHandshake(b.value.handshake!)) return;
        this.send(
          {
            case: "punchAck",
            value: {
              $typeName: "holepunch.v1.PunchAck",
              token: this.token,
              seq: b.value.seq,
              observed: isRelay(from) ? undefined : toWireAddress(from),
              handshake: this.crypto.handshake,
              proof: this.crypto.proofFor(b.value.seq),
            },
          },
          from,
          via,
        );
        if (this.state !== "punching" || isRelay(from)) return;
        if (!this.candidates.some((c) => sameAddr(c, from)) && this.candidates.length < MAX_CANDIDATES) {
          // Peer-reflexive (and authenticated): the peer's NAT picked a mapping the server never saw.
          this.log.debug("learned peer-reflexive candidate", { address: formatAddr(from) });
          this.candidates.push(from);
        }
        // A triggered check (ICE's): the peer's side is open to us now, so our probe
        // gets through at once instead of at the next round (our earlier ones may
        // have hit its NAT before it had sent anything).
        if (!this.triggered.has(addrKey(from))) {
          this.triggered.add(addrKey(from));
          this.sendProbe(from, via);
        }
        return;
      }
      case "punchAck":
        if (!this.acceptHandshake(b.value.handshake!)) return;
        if (!this.crypto.checkProof(b.value.seq, b.value.proof)) return this.events.dropped("bad_ack_proof");
        return this.onAck(b.value.seq, from, b.value.observed ? fromWireAddress(b.value.observed) : RELAY, via);
      case "sealed": {
        if (this.state !== "connected" || !this.crypto.cipher) return; // the sender retransmits; we ack once we have proof
        const plain = this.crypto.cipher.open({ epoch: b.value.epoch, counter: b.value.counter, ciphertext: b.value.ciphertext });
        if (!plain) return this.events.dropped("bad_seal");
        let frame: PeerFrame;
        try {
          frame = fromBinary(PeerFrameSchema, plain);
        } catch {
          return this.events.dropped("bad_frame");
        }
        if (validateFrame(frame)) return this.events.dropped("bad_frame");
        // The peer is connected too (it sealed this). Once both of us use the direct
        // path the handshake material is no longer needed (until then it answers the
        // probes that upgrade a relayed session). Forgetting it keeps a later
        // compromise from reaching back.
        // Only frames the peer addresses to its chosen path count (transport packets, Ping):
        // its pongs answer to wherever our ping came from.
        const chosen = frame.frame.case === "transport" || frame.frame.case === "ping";
        if (this.path === "direct" && !isRelay(from) && chosen && this.clock.now() >= this.preferV6Until) this.crypto.forget();
        // Authenticated and not a replay: if it came from elsewhere, the peer's NAT moved it.
        this.peerMoved(from);
        return this.session.onFrame(frame, from);
      }
      default:
        return;
    }
  }

  // ---- FrameSink: what the session needs from the link ----

  sendFrame(frame: PeerFrame["frame"], to?: Addr): void {
    const dest = to ?? this.peerAddr;
    const cipher = this.crypto.cipher;
    if (!cipher || !dest) return;
    const sealed = cipher.seal(toBinary(PeerFrameSchema, create(PeerFrameSchema, { frame })));
    this.send({ case: "sealed", value: { $typeName: "holepunch.v1.Sealed", token: this.token, ...sealed } }, dest, isRelay(dest) ? undefined : this.via);
  }

  deliver(text: string): void {
    this.events.message(text);
  }

  /** An authenticated packet came from `to`: follow a direct peer whose address changed. Never moves onto the relay or off it (only a proven ack upgrades). */
  peerMoved(to: Addr): void {
    if (this.path === "relay" || isRelay(to)) return;
    if (this.peerAddr && !sameAddr(this.peerAddr, to)) {
      this.log.info("peer moved", { from: formatAddr(this.peerAddr), to: formatAddr(to) });
      this.peerAddr = to;
    }
  }

  ended(reason: string, code: "PEER_LOST" | undefined): void {
    this.finish(reason, code);
  }

  /** The direct path went silent while we waited for answers: carry on through the relay. */
  pathDead(): void {
    if (this.state === "connected" && this.path === "relay") return this.events.relayDead?.();
    if (this.state !== "connected" || this.path !== "direct" || !this.opts.relay) return;
    this.log.info("direct path silent: moving to the relay", { peer: this.opts.peerName, was: this.peerAddr && formatAddr(this.peerAddr) });
    this.path = "relay";
    this.peerAddr = RELAY;
    this.events.pathChanged(RELAY, "relay");
    this.session.pathChanged();
    // Still able to prove a direct path? Then keep looking for one to come back to.
    if (this.crypto.canProve) this.directRetry(this.clock.now());
  }

  // ---- punching ----

  /** Verifies the peer's signed ephemeral (deriving the session keys once); counts a refusal. */
  private acceptHandshake(h: Handshake): boolean {
    const verdict = this.crypto.accept(h, this.state === "punching");
    if (verdict !== "ok") this.events.dropped(verdict);
    return verdict === "ok";
  }

  private onAck(seq: bigint, from: Addr, observedBy: Addr, via: number | undefined): void {
    const sentAt = this.probesSent.get(seq);
    if (sentAt === undefined) return; // not one of our (recent) probes
    this.probesSent.delete(seq);
    const now = this.clock.now();
    if (this.state === "connected") {
      if (this.path === "relay" && !isRelay(from)) return this.upgrade(from, now - sentAt, via);
      if (this.path === "direct" && isV6(from) && this.peerAddr && !isV6(this.peerAddr) && now < this.preferV6Until) return this.upgrade(from, now - sentAt, via);
      return this.peerMoved(from);
    }
    this.rttMs = now - sentAt;
    this.state = "connected";
    this.peerAddr = from;
    this.path = isRelay(from) ? "relay" : "direct";
    if (this.path === "direct") this.useSocket(via);
    this.probeTimer?.cancel();
    this.log.debug("connected", { peer: this.opts.peerName, address: formatAddr(from), path: this.path, seen_as: formatAddr(observedBy), after_ms: Math.round(now - this.startedAt) });
    this.session.start(this.rttMs);
    this.events.connected(from, this.rttMs, this.path);
    // On the relay, keep trying the direct candidates: upgrade as soon as one answers.
    if (this.path === "relay") this.directRetry(now);
    else if (!isV6(from) && (this.candidates.some(isV6) || this.opts.dualStack)) {
      this.preferV6Until = now + PREFER_V6_FOR;
      this.v6Round();
    }
  }

  /** Connected over IPv4: probe the peer's IPv6 candidates a little longer. */
  private v6Round(): void {
    if (this.state !== "connected" || this.path !== "direct" || (this.peerAddr && isV6(this.peerAddr)) || this.clock.now() >= this.preferV6Until) return;
    for (const c of this.candidates) if (isV6(c)) this.sendProbe(c);
    this.probeTimer = this.clock.setTimer(PROBE_INTERVAL, () => this.v6Round());
  }

  /** A better path proved itself (direct while on the relay, IPv6 while on IPv4): move the session there. */
  private upgrade(to: Addr, rttMs: number, via: number | undefined): void {
    this.probeTimer?.cancel();
    const was = this.peerAddr && formatAddr(this.peerAddr);
    this.useSocket(via);
    this.path = "direct";
    this.peerAddr = to;
    this.rttMs = rttMs;
    this.log.info("path upgraded", { peer: this.opts.peerName, from: was, to: formatAddr(to), rtt_ms: Math.round(rttMs * 10) / 10 });
    this.events.pathChanged(to, "direct");
  }

  private directRetry(since: number): void {
    if (this.state !== "connected" || this.path !== "relay" || this.clock.now() - since > DIRECT_RETRY_FOR) return;
    for (const c of this.candidates) this.sendProbe(c);
    this.birthdayRound();
    const birthdayOn = this.birthday !== undefined && !this.birthday.done(this.clock.now());
    this.probeTimer = this.clock.setTimer(birthdayOn ? PROBE_INTERVAL : DIRECT_RETRY_INTERVAL, () => this.directRetry(since));
  }

  private birthdayRound(): void {
    const plan = this.birthday;
    if (!plan) return;
    if (plan.done(this.clock.now())) {
      // Out of time or probes (e.g. we settled on the relay): give the sockets back.
      const unused = plan.socketIds.filter((id) => !this.hitSockets.has(id));
      this.birthday = undefined;
      if (unused.length) this.opts.sockets?.close(unused);
      return;
    }
    for (const p of plan.round(this.clock.now())) this.sendProbe(p.to, p.via);
  }

  /** The direct path runs on socket `via`: the birthday is over, its spare sockets are closed. */
  private useSocket(via: number | undefined): void {
    this.via = via;
    // Both sides may find a different matching pair: keep every socket the
    // peer's probes reached (it may send there; our replies from `via` then
    // move it over), close the rest.
    const spare = this.birthday?.socketIds.filter((id) => id !== via && !this.hitSockets.has(id)) ?? [];
    if (this.birthday) this.log.debug("birthday punching done", { via, closing: spare.length });
    this.birthday = undefined;
    if (spare.length) this.opts.sockets?.close(spare);
  }

  private probeRound(): void {
    if (this.state !== "punching") return;
    const timeout = this.opts.punchTimeoutMs ?? PUNCH_TIMEOUT;
    if (this.clock.now() - this.startedAt >= timeout) {
      return this.finish(`no path to ${this.opts.peerName} after ${Math.round(timeout / second)} s of punching`, "PUNCH_FAILED");
    }
    for (const c of this.candidates) this.sendProbe(c);
    this.birthdayRound();
    this.predictedRound();
    // Punching looks slow: bring the relay in (direct candidates keep being probed).
    // Birthday punching takes a little longer by nature: give it a head start.
    const relayAfter = Math.max(this.opts.relayAfterMs ?? RELAY_AFTER, this.birthday ? BIRTHDAY_RELAY_AFTER : 0);
    if (this.opts.relay && this.clock.now() - this.startedAt >= relayAfter) this.sendProbe(RELAY);
    this.probeTimer = this.clock.setTimer(PROBE_INTERVAL, () => this.probeRound());
  }

  /** A sequential peer NAT: probe its predicted next ports for a while (our NAT then lets its probes in). */
  private predictedRound(): void {
    const seen = this.opts.candidates[0];
    if (!this.predictStep || !seen || this.clock.now() - this.predictFrom > PREDICT_FOR) return;
    for (const to of predictedAddresses(seen, this.predictStep)) this.sendProbe(to);
  }

  private sendProbe(to: Addr, via?: number): void {
    const seq = ++this.probeSeq;
    const now = this.clock.now();
    this.probesSent.set(seq, now);
    for (const [s, at] of this.probesSent) {
      if (now - at < 10 * second) break;
      this.probesSent.delete(s);
    }
    this.send(
      { case: "punchProbe", value: { $typeName: "holepunch.v1.PunchProbe", token: this.token, fromName: this.opts.selfName, seq, handshake: this.crypto.handshake } },
      to,
      via,
    );
  }

  private finish(reason: string, code: "PUNCH_FAILED" | "PEER_LOST" | undefined): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected";
    this.state = "closed";
    this.probeTimer?.cancel();
    this.session.stop();
    const sockets = [...new Set([...(this.birthday?.socketIds ?? []), ...this.hitSockets, ...(this.via !== undefined ? [this.via] : [])])];
    this.birthday = undefined;
    if (sockets.length) this.opts.sockets?.close(sockets);
    this.events.closed(reason, code, this.session.unacked, wasConnected);
  }
}
