// The rendezvous server's logic, with no I/O of its own: push datagrams in
// with handle(), it answers through the injected send(). Every input is
// validated; anything unusable is counted in `stats.dropped` and never
// answered (except the version and rate-limit errors the protocol defines).
//
// Anti-amplification: until an address has proved it receives (it completed
// the cookie exchange and holds a registration), the server sends it at most
// as many bytes as the datagram it is answering (factor 1). send() enforces
// this for every reply; what does not fit is dropped and counted.
import { ErrorCode, type Envelope, type PunchReport } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  DEFAULT_MAX_CLIENTS,
  EVICT_SILENT_AFTER_KEEPALIVES,
  KEEPALIVE_INTERVAL,
  MAX_RATE_BUCKETS,
  NAME_PATTERN,
  RATE_BURST_PER_IP,
  RATE_LIMITED_RETRY_AFTER,
  MAX_NAMES_PER_IP,
  MAX_RELAY_SESSIONS,
  RELAY_BYTES_PER_SECOND,
  RELAY_IDLE,
  RELAY_QUOTA_BYTES,
  RATE_BURST_PER_NAME,
  RATE_PER_IP_PER_SECOND,
  RATE_PER_NAME_PER_SECOND,
  REGISTRATION_TTL,
  SUPPORTED_VERSIONS,
} from "../constants.ts";
import { DecodeError } from "../errors.ts";
import { ipLimitKey, ipToBytes, type Addr } from "../net/address.ts";
import { decodePacket, encodePacket, classify, type Body, type EnvelopeOf } from "../protocol/packet.ts";
import { toWireAddress } from "../protocol/wire-address.ts";
import { silentLogger, type Logger } from "../log.ts";
import { equalBytes } from "../crypto/kdf.ts";
import type { ClusterBridge } from "./cluster-bridge.ts";
import { Introducer } from "./introducer.ts";
import type { PunchTotals } from "../ops/snapshot.ts";
import { Registrar } from "./registrar.ts";
import type { RendezvousOptions } from "./rendezvous-options.ts";
import { SecondAddresses } from "./second-addresses.ts";
import { answerStun, type StunSockets } from "./stun-responder.ts";
import { packMapping } from "./mapping.ts";
import { RelayTable } from "./relay.ts";
import { Registry, type Registration } from "./registry.ts";
import { RateLimiter } from "./rate-limit.ts";
import { Stats } from "./stats.ts";

export type { RendezvousOptions } from "./rendezvous-options.ts";


export class Rendezvous {
  readonly registry: Registry;
  readonly stats = new Stats();
  private readonly limiter: RateLimiter;
  /** Per-IP limits are on (hp-server --rate 0 turns them off). */
  private readonly limitsOn: boolean;
  private readonly nameLimiter: RateLimiter;
  private readonly registrar: Registrar;
  readonly relays: RelayTable | undefined;
  /** The alternate NAT-discovery port, told to clients in NatProbeAck (set by the UDP runner). */
  altPort = 0;
  /** The alternate port's IP when it differs from the main one (--alt-host), told in NatProbeAck. */
  altIp: string | undefined;
  /** Bytes the current reply may still use; Infinity once the source is verified. */
  private budget = Number.POSITIVE_INFINITY;
  /** Dual-stack clients' addresses in their other family (Register.additional). */
  private readonly seconds: SecondAddresses;
  private readonly log: Logger;
  private readonly keepaliveMs: number;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly introducer: Introducer;
  /** Set when this instance is one of a cluster (hp-server --redis). */
  readonly cluster: ClusterBridge | undefined;

  constructor(private readonly opts: RendezvousOptions) {
    this.keepaliveMs = opts.keepaliveMs ?? KEEPALIVE_INTERVAL;
    this.registry = new Registry(
      opts.maxClients ?? DEFAULT_MAX_CLIENTS,
      opts.ttlMs ?? REGISTRATION_TTL,
      opts.maxPerIp ?? MAX_NAMES_PER_IP,
      EVICT_SILENT_AFTER_KEEPALIVES * this.keepaliveMs,
    );
    this.limitsOn = (opts.ratePerSecond ?? RATE_PER_IP_PER_SECOND) !== Number.POSITIVE_INFINITY;
    this.limiter = new RateLimiter(
      opts.ratePerSecond ?? RATE_PER_IP_PER_SECOND,
      opts.rateBurst ?? RATE_BURST_PER_IP,
      MAX_RATE_BUCKETS,
    );
    this.log = opts.log ?? silentLogger;
    this.randomBytes = opts.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    const perName = opts.ratePerName ?? RATE_PER_NAME_PER_SECOND;
    this.nameLimiter = new RateLimiter(perName, Math.max(RATE_BURST_PER_NAME, perName * 2), MAX_RATE_BUCKETS);
    this.relays =
      opts.relay === false
        ? undefined
        : new RelayTable({
            bytesPerSecond: RELAY_BYTES_PER_SECOND,
            quotaBytes: RELAY_QUOTA_BYTES,
            idleMs: RELAY_IDLE,
            maxSessions: MAX_RELAY_SESSIONS,
            ...opts.relay,
          });
    this.seconds = new SecondAddresses(this.registry.ttlMs);
    this.registrar = new Registrar(
      this.registry,
      this.seconds,
      this.stats,
      this.log,
      (to, txid, body) => this.send(to, txid, body),
      (to, txid, code, msg, retry) => this.replyError(to, txid, code, msg, retry),
      this.randomBytes,
      {
        allow: opts.allow,
        token: opts.token,
        keepaliveMs: this.keepaliveMs,
        serverAddresses: (opts.serverIps ?? []).map((ip) => ({ ip, port: opts.port ?? 0 })),
        // Register.connect_to: the introduction rides on the registration (the cookie verified the address).
        onVerified: () => void (this.budget = Number.POSITIVE_INFINITY),
        onRegistered: (reg, r, txid, from, now) => {
          if (r.connectTo) this.introduce(reg, r.connectTo, txid, from, now);
        },
        claim: opts.cluster && ((reg) => this.introducer.cluster!.claim(reg)),
      },
    );
    this.introducer = new Introducer({
      registry: this.registry,
      seconds: this.seconds,
      relays: this.relays,
      stats: this.stats,
      log: this.log,
      now: () => this.opts.now(),
      randomBytes: this.randomBytes,
      cluster: opts.cluster,
      sendVerified: (to, txid, body) => {
        this.budget = Number.POSITIVE_INFINITY;
        return this.send(to, txid, body);
      },
    });
    this.cluster = this.introducer.cluster;
    if (this.cluster) this.registry.onDropped = (name, key) => this.cluster!.release(name, key);
  }

  /** One datagram from `from`. Never throws for bad input. */
  handle(bytes: Uint8Array, from: Addr): void {
    const kind = classify(bytes);
    if (kind === "stun") {
      const v = this.answerStun(bytes, from);
      if (v) this.opts.send(v.reply, from);
      return;
    }
    this.stats.count("received");
    if (kind !== "hp") return this.stats.drop("not_ours");
    const now = this.opts.now();
    this.budget = this.registry.byAddress(from, now) ? Number.POSITIVE_INFINITY : bytes.length;
    let env: Envelope & { body: Body };
    try {
      env = decodePacket(bytes);
    } catch (e) {
      const code = e instanceof DecodeError ? e.code : "MALFORMED";
      this.stats.drop(code.toLowerCase());
      if (code === "UNSUPPORTED_VERSION" && this.allowFrom(from, now)) this.replyVersionError(from, bytes.length);
      return;
    }
    // Per source IP, every request type, except relayed peer traffic: it is
    // checked (registered sender, secret, member) and limited in bytes by the relay.
    if (env.body.case !== "relayData" && !this.allowFrom(from, now)) return;
    // Per name, on top of per IP. A hello is keyed by (name, source IP), so a
    // flood of hellos claiming someone's name from elsewhere cannot starve
    // their registration; introductions by the requester's (authenticated) name.
    if (env.body.case === "register" && !this.takeName(`${env.body.value.name}@${ipLimitKey(from.ip)}`, now)) return;
    switch (env.body.case) {
      case "register":
        return this.registrar.handle(env.body.value, env.txid, from, now);
      case "keepalive":
        return this.onKeepalive(env as EnvelopeOf<"keepalive">, from, now);
      case "holePunchRequest":
        return this.onHolePunchRequest(env as EnvelopeOf<"holePunchRequest">, from, now);
      case "unregister":
        return this.onUnregister(env as EnvelopeOf<"unregister">, from, now);
      case "relayData":
        return this.onRelay(env as EnvelopeOf<"relayData">, from, now);
      case "natProbe":
        return this.answerNatProbe(env.txid, from, this.opts.port ?? 0);
      case "punchReport":
        return this.introducer.report(env.body.value as PunchReport, from, now);
      default:
        return this.stats.drop("unexpected_type");
    }
  }

  /** Expires registrations, introductions and idle rate buckets. Call about once a second. */
  sweep(): void {
    const now = this.opts.now();
    const expired = this.registry.sweep(now);
    if (expired) this.stats.count("expired", expired);
    this.limiter.sweep(now);
    this.nameLimiter.sweep(now);
    this.registrar.sweep(now);
    this.seconds.sweep(now);
    this.relays?.sweep(now);
    this.introducer.sweep(now);
  }

  /** Punch attempts this instance started, and how those reported ended. */
  get punchTotals(): PunchTotals {
    return this.introducer.totals;
  }

  private onKeepalive(env: EnvelopeOf<"keepalive">, from: Addr, now: number): void {
    const k = env.body.value;
    const reg = this.registry.refresh(from, k.name, k.secret, now);
    if (reg && k.mapping) reg.mapping = packMapping(k.mapping, k.portStep);
    if (reg) this.seconds.refresh(reg, now);
    if (reg) this.cluster?.touch(reg.name);
    if (!reg) {
      this.stats.count("keepalive_unknown");
      return this.replyError(from, env.txid, ErrorCode.NOT_REGISTERED, "not registered from this address");
    }
    this.stats.count("keepalive_ok");
    this.send(from, env.txid, {
      case: "keepaliveAck",
      value: { $typeName: "holepunch.v1.KeepaliveAck", observed: toWireAddress(from) },
    });
  }

  private onHolePunchRequest(env: EnvelopeOf<"holePunchRequest">, from: Addr, now: number): void {
    const requester = this.registry.byAddress(from, now);
    if (!requester || !equalBytes(requester.secret, env.body.value.secret)) {
      this.stats.count("punch_not_registered");
      return this.replyError(from, env.txid, ErrorCode.NOT_REGISTERED, "register before asking for a peer");
    }
    if (env.body.value.mapping && requester.mapping !== packMapping(env.body.value.mapping, env.body.value.portStep)) {
      requester.mapping = packMapping(env.body.value.mapping, env.body.value.portStep);
      this.cluster?.touch(requester.name);
    }
    this.introduce(requester, env.body.value.target, env.txid, from, now);
  }

  /** Introduces `requester` (registered, at `from`) to `targetName`: both get an Initiate with one token, or the requester hears the peer is unknown. */
  private introduce(requester: Registration, targetName: string, txid: bigint, from: Addr, now: number): void {
    if (!this.takeName(requester.name, now)) return;
    if (!NAME_PATTERN.test(targetName)) {
      this.stats.count("punch_invalid");
      return this.replyError(from, txid, ErrorCode.NAME_INVALID, `invalid peer name ${JSON.stringify(targetName)}`);
    }
    this.introducer.introduce(requester, targetName, txid, from, now);
  }

  /** Forwards a peer datagram to the other peer of the attempt, within the relay's limits. */
  private onRelay(env: EnvelopeOf<"relayData">, from: Addr, now: number): void {
    const r = env.body.value;
    const sender = this.registry.byAddress(from, now);
    if (!this.relays) return this.stats.drop("relay_disabled");
    if (!sender || !equalBytes(sender.secret, r.secret)) return this.stats.drop("relay_not_registered");
    const token = Buffer.from(r.token).toString("hex");
    const other = this.relays.peerOf(token, sender.name, now);
    if (!other.ok) return this.stats.drop(other.reason);
    const peer = this.registry.lookup(other.to, now);
    if (!peer && !this.cluster) return this.stats.drop("relay_peer_gone");
    const verdict = this.relays.forward(token, sender.name, r.payload.length, now);
    if (!verdict.ok) return this.stats.drop(verdict.reason);
    // At another instance of the cluster: that one sends it on.
    if (!peer) return void (this.cluster!.relay(r.token, sender.name, other.to, r.payload) || this.stats.drop("relay_peer_gone"));
    this.budget = Number.POSITIVE_INFINITY; // registered to registered
    if (this.send(peer.observed, 0n, { case: "relayData", value: { $typeName: "holepunch.v1.RelayData", token: r.token, secret: new Uint8Array(), payload: r.payload } })) {
      this.stats.count("relay_bytes", r.payload.length);
    }
  }

  /**
   * NAT discovery: tells the sender the address we see it at, on whichever
   * port it asked (the UDP runner calls this for the alternate port too).
   * Subject to the anti-amplification budget like every reply.
   */
  answerNatProbe(txid: bigint, from: Addr, serverPort: number): void {
    this.stats.count("nat_probe");
    this.send(from, txid, {
      case: "natProbeAck",
      value: {
        $typeName: "holepunch.v1.NatProbeAck",
        observed: toWireAddress(from),
        serverPort,
        altPort: this.altPort,
        altIp: this.altIp ? ipToBytes(this.altIp) : new Uint8Array(),
      },
    });
  }

  /** The per-IP request limit (also used by the alternate port): false when over it (dropped, maybe told). */
  /**
   * A STUN datagram, on either port: the reply to send back, if any. Like
   * every STUN server's, a Binding response is larger than the smallest
   * request (20 -> 60 bytes over IPv4, 72 over IPv6): the per-IP rate limit
   * bounds what a spoofer can reflect (see docs/security.md).
   */
  answerStun(bytes: Uint8Array, from: Addr, sockets?: StunSockets, alloc?: (bytes: number) => Uint8Array): { reply: Uint8Array; viaOther: boolean } | undefined {
    if (this.limitsOn && !this.allowFrom(from, this.opts.now(), false)) return void this.stats.count("received");
    const v = answerStun(bytes, from, sockets, alloc);
    if ("drop" in v) {
      this.stats.count("received");
      return void this.stats.drop(v.drop);
    }
    if (v.answered === "binding") return this.stats.stunBinding(v.reply.length), v;
    this.stats.count("received");
    this.stats.count(`stun_${v.answered}`);
    this.stats.count("sent");
    this.stats.count("sent_bytes", v.reply.length);
    return v;
  }

  allowFrom(from: Addr, now = this.opts.now(), tell = true): boolean {
    const verdict = this.limiter.take(ipLimitKey(from.ip), now);
    if (verdict === "allow") return true;
    this.stats.drop("rate_limited");
    if (tell && verdict === "limit-and-tell") this.replyError(from, 0n, ErrorCode.RATE_LIMITED, "too many requests", RATE_LIMITED_RETRY_AFTER);
    return false;
  }

  private takeName(key: string, now: number): boolean {
    if (this.nameLimiter.take(key, now) === "allow") return true;
    this.stats.drop("rate_limited_name");
    return false;
  }

  private onUnregister(env: EnvelopeOf<"unregister">, from: Addr, now: number): void {
    const u = env.body.value;
    const key = this.cluster && this.registry.byAddress(from, now)?.publicKey;
    const result = this.registry.unregister(from, u.name, u.secret, now);
    if (result === "removed") {
      this.seconds.delete(u.name);
      if (key) this.cluster?.release(u.name, key);
      this.stats.count("unregistered");
      this.log.info("unregistered", { name: u.name });
    } else if (result === "absent") this.stats.count("unregister_repeat"); // clients send it twice
    else this.stats.drop("unregister_mismatch");
  }

  /**
   * Tells a client of another version what we speak, in the smallest reply
   * we have (12 bytes, no text), and only when the request was at least as
   * large: a spoofed tiny datagram must not make us send more than we got.
   */
  private replyVersionError(to: Addr, requestBytes: number): void {
    const reply = encodePacket({
      case: "error",
      value: {
        $typeName: "holepunch.v1.Error",
        code: ErrorCode.UNSUPPORTED_VERSION,
        message: "",
        retryAfterMs: 0,
        supportedVersions: [...SUPPORTED_VERSIONS],
      },
    });
    if (reply.length > requestBytes) return this.stats.drop("version_reply_too_large");
    if (reply.length > this.budget) return this.stats.drop("amplification_guard");
    this.budget -= reply.length;
    this.stats.count("error_sent");
    this.stats.count("sent");
    this.stats.count("sent_bytes", reply.length);
    this.opts.send(reply, to);
  }

  private replyError(to: Addr, txid: bigint, code: ErrorCode, message: string, retryAfterMs = 0): void {
    const body = (text: string): Body => ({
      case: "error",
      value: { $typeName: "holepunch.v1.Error", code, message: text, retryAfterMs, supportedVersions: [] },
    });
    // To an unverified address the reply must not outgrow the request: drop the text if it would.
    const full = body(message);
    if (this.send(to, txid, encodePacket(full, txid).length <= this.budget ? full : body(""))) this.stats.count("error_sent");
  }

  /** Sends unless the anti-amplification budget forbids it; true if sent. */
  private send(to: Addr, txid: bigint, body: Body): boolean {
    const bytes = encodePacket(body, txid);
    if (bytes.length > this.budget) {
      this.stats.drop("amplification_guard");
      return false;
    }
    this.budget -= bytes.length;
    this.stats.count("sent");
    this.stats.count("sent_bytes", bytes.length);
    this.opts.send(bytes, to);
    return true;
  }
}
