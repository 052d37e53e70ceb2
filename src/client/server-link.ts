// The client's conversation with the rendezvous server: register (hello ->
// Challenge -> signed Register), keep the registration (and the NAT mapping
// to the server) alive, and ask for introductions. Every request is
// retransmitted with exponential backoff. Initiates must carry a MAC made
// with this registration's secret. With several server addresses it talks to
// the current one and moves to the next (registering there from scratch) when
// that one stops answering keepalives or a registration. No I/O: sends
// through the injected function, times through the Clock.
import { ErrorCode, MappingKind, type Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  KEEPALIVE_INTERVAL,
  REGISTER_FAILOVER_WAIT,
  REGISTER_TIMEOUT,
  REINTRODUCE_INTERVAL,
  REREGISTER_RTO_MAX,
  REQUEST_RTO_INITIAL,
  REQUEST_RTO_MAX,
  UNKNOWN_RETRY_MAX,
  UNKNOWN_RETRY_MIN,
  second,
} from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { ErrorCode as HpErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { bytesToIp, formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { initiateAuth } from "../crypto/server-auth.ts";
import { registerBody } from "./register-body.ts";
import type { ServerLinkEvents, ServerLinkOptions } from "./server-link-types.ts";
import { NatDiscovery } from "./nat-discovery.ts";
import { Keepalives } from "./keepalives.ts";
import { randomTxid } from "./txid.ts";
import { fromWireAddress } from "../protocol/wire-address.ts";

export type { ServerLinkEvents, ServerLinkOptions } from "./server-link-types.ts";

/** Consecutive refused cookies/signatures before registering is given up. */
const MAX_BAD_SIGNATURES = 3;
/** The first introduction request waits at most this long for NAT discovery to finish. */
const NAT_DISCOVERY_WAIT = 500;

type Phase = "idle" | "registering" | "registered" | "closed";

export class ServerLink {
  private phase: Phase = "idle";
  private everRegistered = false;
  private registerStartedAt = 0;
  private rto = REQUEST_RTO_INITIAL;
  private registerTxid = 0n;
  /** The Challenge's cookie once we have one: then we send the signed Register. */
  private cookie: Uint8Array | undefined;
  private badSignatures = 0;
  /** What our NAT does (learned by probing the server's two ports), reported to the server. */
  private readonly nat: NatDiscovery;
  private natWaited = false;
  private versionRefused: string | undefined;
  private warnedRateLimited = false;
  private registrationSecret: Uint8Array | undefined;
  private registerTimer: Timer | undefined;
  private readonly keepalives: Keepalives;
  /** Several servers: when this server's registration attempt started (or last heard from it), and rounds of servers that all stayed silent. */
  private serverSince = 0;
  private silentMoves = 0;
  observed: Addr | undefined;

  private target: string | undefined;
  private introTxid = 0n;
  private introRto = REQUEST_RTO_INITIAL;
  private introTimer: Timer | undefined;
  /** The introduction rode on the signed Register (connect_to), sent before our NAT mapping was known. */
  private introWithRegister = false;
  /** The mapping our last introduction request told the server (the one riding on a Register tells none). */
  private introMapping: MappingKind | undefined;
  /** The current hello is a 0-RTT attempt (it carries an address token). */
  private zeroRtt = false;

  constructor(
    private readonly clock: Clock,
    /** Sends to the server's main address, or to `to` (its alternate port). */
    private readonly send: (body: Body, txid: bigint, to?: Addr) => void,
    private readonly log: Logger,
    private readonly events: ServerLinkEvents,
    private readonly opts: ServerLinkOptions,
  ) {
    const servers = opts.servers;
    this.keepalives = new Keepalives(clock, log, {
      send: (txid) => this.send({ case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: opts.name, secret: this.registrationSecret!, mapping: this.nat.mapping, portStep: this.nat.step } }, txid),
      silent: () => this.beginRegister(),
      dead: () => this.moveOn(),
    }, servers.several);
    this.nat = new NatDiscovery(clock, send, log, () => servers.current, () => {
      if (this.phase !== "registered") return; // it goes with the registration's first keepalive
      this.keepalives.sendNow(); // tell the server now
      // The introduction went out before we knew our mapping: ask again with it (both
      // sides then get Initiates that tell them how to punch: birthday, prediction).
      if (this.target !== undefined && (this.natWaited || this.introMapping === MappingKind.UNSPECIFIED)) this.sendIntroRequest();
    }, opts.stun);
  }

  /** This registration's secret (authenticates our relayed packets), once registered. */
  get secret(): Uint8Array | undefined {
    return this.phase === "registered" ? this.registrationSecret : undefined;
  }

  /** Our NAT's mapping, once discovery has found it. */
  get mapping(): MappingKind {
    return this.nat.mapping;
  }

  /** The server's alternate NAT-discovery address (another IP with hp-server --alt-host). */
  get natAlt(): Addr | undefined {
    return this.nat.alt;
  }

  /** A STUN datagram: true if it answered one of our NAT-discovery requests. */
  onStun(bytes: Uint8Array, from: Addr): boolean {
    return this.nat.onStun(bytes, from);
  }

  get isRegistered(): boolean {
    return this.phase === "registered";
  }

  start(): void {
    this.beginRegister();
  }

  /** The peer we are asking to be introduced to, if any. */
  get introducing(): string | undefined {
    return this.target;
  }

  /** Keep asking the server to introduce us to `target` until stopIntroducing(). */
  introduce(target: string): void {
    this.target = target;
    this.introTxid = randomTxid(); // one txid for every (re)send of this introduction
    this.introRto = REQUEST_RTO_INITIAL;
    if (this.phase === "registered") this.sendIntroRequest();
  }

  /** One more introduction request, not retransmitted: the server sends both of us Initiates with the candidates it knows now. */
  askAgain(target: string): void {
    if (this.phase !== "registered") return;
    const value = { $typeName: "holepunch.v1.HolePunchRequest" as const, target, secret: this.registrationSecret!, mapping: this.nat.mapping, portStep: this.nat.step };
    this.send({ case: "holePunchRequest", value }, randomTxid());
  }

  stopIntroducing(): void {
    this.target = undefined;
    this.introTimer?.cancel();
  }

  close(): void {
    if (this.phase === "registered") {
      // Free the name now, so a restarted client can take it at once. Sent
      // twice, unanswered: if both are lost the name expires at its TTL.
      const body: Body = { case: "unregister", value: { $typeName: "holepunch.v1.Unregister", name: this.opts.name, secret: this.registrationSecret! } };
      this.send(body, randomTxid());
      this.send(body, randomTxid());
    }
    this.phase = "closed";
    this.registerTimer?.cancel();
    this.keepalives.stop();
    this.stopIntroducing();
  }

  /** A validated envelope that came from the server's address. */
  handle(env: Envelope): void {
    if (this.phase === "closed") return;
    const b = env.body;
    switch (b.case) {
      case "natProbeAck":
        return this.nat.onAck(env.txid, fromWireAddress(b.value.observed!), b.value.altPort, b.value.altIp.length ? bytesToIp(b.value.altIp) : undefined);
      case "challenge":
        // The first Challenge of a cycle wins: answering a second (to a retransmitted
        // hello) would register twice and leave us holding a stale secret.
        if (env.txid !== this.registerTxid || this.phase !== "registering" || this.cookie) return;
        this.cookie = b.value.cookie;
        this.rto = REQUEST_RTO_INITIAL;
        this.serverSince = this.clock.now(); // this server answers: give it the full wait for the signed Register
        return this.sendRegister();
      case "registerAck":
        if (env.txid !== this.registerTxid || this.phase !== "registering") return;
        if (b.value.secret.length === 0) return this.events.dropped("register_ack_without_secret");
        if (b.value.addressToken.length) this.opts.addressToken?.set(b.value.addressToken);
        if (this.zeroRtt && !this.cookie) this.log.debug("registered in 0-RTT (address token)");
        this.registrationSecret = b.value.secret;
        this.badSignatures = 0;
        return this.onRegistered(fromWireAddress(b.value.observed!), b.value.keepaliveMs, b.value.serverAddresses.map(fromWireAddress));
      case "keepaliveAck": {
        if (!this.keepalives.acked(env.txid)) return;
        const seen = fromWireAddress(b.value.observed!);
        if (this.observed && !sameAddr(seen, this.observed)) {
          this.log.info("the server sees us at a new address", { was: formatAddr(this.observed), now: formatAddr(seen) });
        }
        this.observed = seen;
        return;
      }
      case "holePunchResponseUnknown":
        if (this.target === undefined || env.txid !== this.introTxid) return;
        this.log.debug("peer not registered yet", { peer: this.target });
        this.introRto = REQUEST_RTO_INITIAL;
        return this.scheduleIntro(UNKNOWN_RETRY_MIN + Math.random() * (UNKNOWN_RETRY_MAX - UNKNOWN_RETRY_MIN));
      case "holePunchInitiate": {
        const { auth, $typeName: _t, $unknown: _u, ...fields } = b.value;
        if (!this.registrationSecret || !equalBytes(auth, initiateAuth(this.registrationSecret, fields))) return this.events.dropped("initiate_bad_auth");
        if (this.target !== undefined && env.txid === this.introTxid) {
          this.introRto = REQUEST_RTO_INITIAL;
          this.scheduleIntro(REINTRODUCE_INTERVAL);
        }
        return this.events.initiate(b.value);
      }
      case "error":
        return this.onError(env.txid, b.value.code, b.value.message, b.value.retryAfterMs);
      default:
        return;
    }
  }

  private beginRegister(): void {
    this.phase = "registering";
    this.registerTxid = randomTxid();
    this.cookie = undefined;
    this.registrationSecret = undefined;
    this.registerStartedAt = this.clock.now();
    this.serverSince = this.registerStartedAt;
    this.rto = REQUEST_RTO_INITIAL;
    this.keepalives.stop();
    this.introTimer?.cancel();
    this.sendRegister();
  }

  /** Several servers: this one went silent (keepalives or registration); register at the next from scratch. */
  private moveOn(): void {
    const from = this.opts.servers.current;
    const to = this.opts.servers.advance();
    this.log.warn(`rendezvous server ${formatAddr(from)} is not answering: moving to ${formatAddr(to)}`);
    this.beginRegisterKeepingClock(); // a first registration's budget spans every server
    this.events.moved?.(from, to);
  }

  /** Several servers: how long a registration attempt waits for one (doubling per round of silent servers once registered). */
  private get failoverWait(): number {
    if (!this.everRegistered) return REGISTER_FAILOVER_WAIT;
    return Math.min(REGISTER_FAILOVER_WAIT * 2 ** Math.floor(this.silentMoves / this.opts.servers.size), REREGISTER_RTO_MAX);
  }

  /** Starts over with a hello (a fresh cookie) but keeps the first attempt's start time. */
  private beginRegisterKeepingClock(): void {
    const started = this.registerStartedAt;
    this.beginRegister();
    this.registerStartedAt = started;
  }

  private sendRegister(): void {
    const limit = this.opts.registerTimeoutMs ?? REGISTER_TIMEOUT;
    const servers = this.opts.servers;
    if (!this.everRegistered && this.clock.now() - this.registerStartedAt >= limit) {
      if (this.versionRefused) return this.fatal("UNSUPPORTED_VERSION", `server: ${this.versionRefused}`);
      const who = servers.several ? `any of the ${servers.size} servers` : "the server";
      return this.fatal("SERVER_UNREACHABLE", `no answer from ${who} after ${Math.round(limit / second)} s`);
    }
    if (servers.several && this.clock.now() - this.serverSince >= this.failoverWait) {
      this.silentMoves++;
      return this.moveOn();
    }
    // One txid per registration cycle: a late answer to an earlier copy still counts.
    this.send(this.registerBody(), this.registerTxid);
    if (!this.cookie) this.nat.probe(); // alongside each hello, until the server has answered one
    let wait = this.rto;
    this.rto = Math.min(this.rto * 2, this.everRegistered ? REREGISTER_RTO_MAX : REQUEST_RTO_MAX);
    if (!this.everRegistered) wait = Math.min(wait, this.registerStartedAt + limit - this.clock.now());
    if (servers.several) wait = Math.min(wait, this.serverSince + this.failoverWait - this.clock.now());
    this.registerTimer?.cancel();
    this.registerTimer = this.clock.setTimer(wait, () => this.sendRegister());
  }

  /** The hello (padded: the server answers no more bytes than it got) or, with a cookie, the signed Register. */
  private registerBody(): Body {
    const o = this.opts;
    // Introducing already: the signed Register asks for it too, and its answers share the txid.
    const connectTo = this.cookie && this.target !== undefined ? this.target : undefined;
    const token = this.cookie ? undefined : o.addressToken?.get();
    this.zeroRtt = token !== undefined;
    const zeroRtt = token && { token, wallMs: (o.wallNow ?? Date.now)() };
    // 0-RTT carries the introduction too (the server may act on it at once).
    const intro = connectTo ?? (zeroRtt && this.target !== undefined ? this.target : undefined);
    if (intro !== undefined) this.introTxid = this.registerTxid;
    this.introWithRegister = intro !== undefined;
    if (intro !== undefined) this.introMapping = MappingKind.UNSPECIFIED;
    return registerBody({ name: o.name, identity: o.identity, locals: o.locals, software: o.software, token: o.token, cookie: this.cookie, txid: this.registerTxid, connectTo: intro, zeroRtt });
  }

  private onRegistered(observed: Addr, keepaliveMs: number, serverAddresses: Addr[]): void {
    this.registerTimer?.cancel();
    const first = !this.everRegistered;
    this.everRegistered = true;
    this.silentMoves = 0;
    this.phase = "registered";
    this.observed = observed;
    this.keepalives.start(keepaliveMs > 0 ? Math.min(keepaliveMs, KEEPALIVE_INTERVAL) : KEEPALIVE_INTERVAL);
    const resumeIntro = this.target !== undefined; // re-registered while introducing
    if (this.nat.mapping !== MappingKind.UNSPECIFIED) this.keepalives.sendNow(); // our NAT mapping, for the server's records
    this.events.registered(observed, first, serverAddresses);
    if (resumeIntro && this.introWithRegister && this.nat.mapping === MappingKind.UNSPECIFIED) {
      // Its Initiate (or "unknown") follows the ack; ask again only if it does not (or once we know our mapping).
      this.introRto = REQUEST_RTO_INITIAL;
      this.scheduleIntro(REQUEST_RTO_MAX);
    } else if (resumeIntro) this.sendIntroRequest();
  }

  private sendIntroRequest(): void {
    if (this.target === undefined || this.phase !== "registered") return;
    // The request tells the server our NAT mapping (it picks the punching
    // strategy): if discovery is still under way, give it a moment.
    if (this.nat.pending && !this.natWaited) {
      this.natWaited = true;
      return this.scheduleIntro(NAT_DISCOVERY_WAIT);
    }
    this.send(
      {
        case: "holePunchRequest",
        value: { $typeName: "holepunch.v1.HolePunchRequest", target: this.target, secret: this.registrationSecret!, mapping: this.nat.mapping, portStep: this.nat.step },
      },
      this.introTxid,
    );
    this.introMapping = this.nat.mapping;
    const wait = this.introRto;
    this.introRto = Math.min(this.introRto * 2, REQUEST_RTO_MAX);
    this.scheduleIntro(wait);
  }

  private scheduleIntro(ms: number): void {
    this.introTimer?.cancel();
    this.introTimer = this.clock.setTimer(ms, () => this.sendIntroRequest());
  }

  private onError(txid: bigint, code: ErrorCode, message: string, retryAfterMs: number): void {
    const forRegister = txid === this.registerTxid && this.phase === "registering";
    switch (code) {
      case ErrorCode.NAME_INVALID:
        if (forRegister || (this.target !== undefined && txid === this.introTxid)) return this.fatal("NAME_INVALID", message);
        return;
      case ErrorCode.NAME_TAKEN:
        return forRegister ? this.fatal("NAME_TAKEN", message) : undefined;
      case ErrorCode.UNSUPPORTED_VERSION:
        // Sent with txid 0 (the server could not read our envelope), so anyone could
        // forge it: remember it as the likely reason if registering then times out.
        this.versionRefused = message || "the server speaks another protocol version";
        return;
      case ErrorCode.REGISTRY_FULL: {
        // Full now may have room soon (entries expire or get evicted): retry,
        // until the registration timeout for a first registration.
        if (!forRegister) return;
        const limit = this.opts.registerTimeoutMs ?? REGISTER_TIMEOUT;
        const wait = Math.max(retryAfterMs, second);
        if (!this.everRegistered && this.clock.now() + wait - this.registerStartedAt >= limit) return this.fatal("REGISTRY_FULL", message);
        this.log.warn("server registry full: retrying", { server_said: message, retry_ms: wait });
        this.registerTimer?.cancel();
        this.registerTimer = this.clock.setTimer(wait, () => this.beginRegisterKeepingClock());
        return;
      }
      case ErrorCode.BAD_SIGNATURE:
        if (!forRegister) return;
        if (this.zeroRtt && !this.cookie) this.opts.addressToken?.set(undefined); // a refused token: register the long way
        if (++this.badSignatures >= MAX_BAD_SIGNATURES) return this.fatal("REGISTRATION_REFUSED", `server: ${message}`);
        this.log.info("cookie refused: registering from the start", { server_said: message });
        return this.beginRegisterKeepingClock();
      case ErrorCode.NOT_ALLOWED:
        return forRegister ? this.fatal("NOT_ALLOWED", `server: ${message}`) : undefined;
      case ErrorCode.NOT_REGISTERED:
        // Only an answer to our own request counts: a spoofer cannot guess the txid.
        if (this.phase !== "registered" || (!this.keepalives.owns(txid) && txid !== this.introTxid)) return;
        this.log.info("server forgot us (expired or NAT rebinding): registering again", { server_said: message });
        return this.beginRegister();
      case ErrorCode.RATE_LIMITED:
        // Also txid 0, so forgeable: only a hint. Our retransmissions already back
        // off (up to 2 s, 30 s when re-registering); changing timers on a hint
        // would let a spoofer silence us.
        if (!this.warnedRateLimited) this.log.warn("the server says we send too fast", { retry_after_ms: retryAfterMs });
        this.warnedRateLimited = true;
        return;
      default:
        this.log.warn("server error", { code, message });
    }
  }

  private fatal(code: HpErrorCode, message: string): void {
    this.close();
    this.events.fatal(code, message);
  }
}

