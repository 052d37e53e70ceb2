// The rendezvous server's logic, with no I/O of its own: push datagrams in
// with handle(), it answers through the injected send(). Every input is
// validated; anything unusable is counted in `stats.dropped` and never
// answered (except the version and rate-limit errors the protocol defines).
import { create } from "@bufbuild/protobuf";
import {
  CandidateKind,
  CandidateSchema,
  ErrorCode,
  type Candidate,
  type Envelope,
} from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  DEFAULT_MAX_CLIENTS,
  INTRODUCTION_TTL,
  KEEPALIVE_INTERVAL,
  MAX_INTRODUCTIONS,
  MAX_RATE_BUCKETS,
  NAME_PATTERN,
  RATE_BURST_PER_IP,
  RATE_LIMITED_RETRY_AFTER,
  RATE_PER_IP_PER_SECOND,
  REGISTRY_FULL_RETRY_AFTER,
  REGISTRATION_TTL,
  SUPPORTED_VERSIONS,
  TOKEN_BYTES,
} from "../constants.ts";
import { DecodeError } from "../errors.ts";
import { addrKey, formatAddr, type Addr } from "../net/address.ts";
import { decodePacket, encodePacket, classify, type Body, type EnvelopeOf } from "../protocol/packet.ts";
import { fromWireAddress, toWireAddress } from "../protocol/wire-address.ts";
import { silentLogger, type Logger } from "../log.ts";
import { Registry, type Registration } from "./registry.ts";
import { RateLimiter } from "./rate-limit.ts";
import { Stats } from "./stats.ts";

export interface RendezvousOptions {
  send: (bytes: Uint8Array, to: Addr) => void;
  now: () => number;
  randomBytes?: (n: number) => Uint8Array;
  log?: Logger;
  /** Registry size cap (default 100,000). */
  maxClients?: number;
  /** Registration lifetime without refresh, ms (default 45 s). */
  ttlMs?: number;
  /** Keepalive interval told to clients, ms (default 10 s). */
  keepaliveMs?: number;
  /** Requests per second per source IP (default 50, burst 100). */
  ratePerSecond?: number;
  rateBurst?: number;
}

interface Introduction {
  token: Uint8Array;
  /** Observed addresses of both sides when the token was issued. */
  where: string;
  expiresAt: number;
}

export class Rendezvous {
  readonly registry: Registry;
  readonly stats = new Stats();
  private readonly limiter: RateLimiter;
  private readonly intros = new Map<string, Introduction>();
  private readonly log: Logger;
  private readonly keepaliveMs: number;
  private readonly randomBytes: (n: number) => Uint8Array;

  constructor(private readonly opts: RendezvousOptions) {
    this.registry = new Registry(opts.maxClients ?? DEFAULT_MAX_CLIENTS, opts.ttlMs ?? REGISTRATION_TTL);
    this.limiter = new RateLimiter(
      opts.ratePerSecond ?? RATE_PER_IP_PER_SECOND,
      opts.rateBurst ?? RATE_BURST_PER_IP,
      MAX_RATE_BUCKETS,
    );
    this.log = opts.log ?? silentLogger;
    this.keepaliveMs = opts.keepaliveMs ?? KEEPALIVE_INTERVAL;
    this.randomBytes = opts.randomBytes ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
  }

  /** One datagram from `from`. Never throws for bad input. */
  handle(bytes: Uint8Array, from: Addr): void {
    this.stats.count("received");
    const kind = classify(bytes);
    if (kind !== "hp") return this.stats.drop(kind === "stun" ? "stun_unsupported" : "not_ours");
    const now = this.opts.now();
    const verdict = this.limiter.take(from.ip, now);
    if (verdict !== "allow") {
      this.stats.drop("rate_limited");
      if (verdict === "limit-and-tell") {
        this.replyError(from, 0n, ErrorCode.RATE_LIMITED, "too many requests", RATE_LIMITED_RETRY_AFTER);
      }
      return;
    }
    let env: Envelope & { body: Body };
    try {
      env = decodePacket(bytes);
    } catch (e) {
      const code = e instanceof DecodeError ? e.code : "MALFORMED";
      this.stats.drop(code.toLowerCase());
      if (code === "UNSUPPORTED_VERSION") this.replyVersionError(from, bytes.length);
      return;
    }
    switch (env.body.case) {
      case "register":
        return this.onRegister(env as EnvelopeOf<"register">, from, now);
      case "keepalive":
        return this.onKeepalive(env as EnvelopeOf<"keepalive">, from, now);
      case "holePunchRequest":
        return this.onHolePunchRequest(env as EnvelopeOf<"holePunchRequest">, from, now);
      case "unregister":
        return this.onUnregister(env as EnvelopeOf<"unregister">, from, now);
      default:
        return this.stats.drop("unexpected_type");
    }
  }

  /** Expires registrations, introductions and idle rate buckets. Call about once a second. */
  sweep(): void {
    const now = this.opts.now();
    const expired = this.registry.sweep(now);
    if (expired) this.stats.count("expired", expired);
    for (const [key, intro] of this.intros) {
      if (intro.expiresAt > now) break;
      this.intros.delete(key);
    }
    this.limiter.sweep(now);
  }

  private onRegister(env: EnvelopeOf<"register">, from: Addr, now: number): void {
    const r = env.body.value;
    if (!NAME_PATTERN.test(r.name)) {
      this.stats.count("register_invalid");
      return this.replyError(from, env.txid, ErrorCode.NAME_INVALID, `invalid name ${JSON.stringify(r.name)}: use 1-32 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
    }
    const locals = r.localAddresses.map(fromWireAddress);
    const res = this.registry.register(r.name, r.instance, from, locals, now);
    if (!res.ok) {
      this.stats.count(res.code === "NAME_TAKEN" ? "register_taken" : "register_full");
      return res.code === "NAME_TAKEN"
        ? this.replyError(from, env.txid, ErrorCode.NAME_TAKEN, `name ${JSON.stringify(r.name)} is registered by another client`)
        : this.replyError(from, env.txid, ErrorCode.REGISTRY_FULL, "server registry is full", REGISTRY_FULL_RETRY_AFTER);
    }
    this.stats.count("register_ok");
    if (res.isNew || res.moved) {
      this.log.info(res.isNew ? "registered" : "moved", { name: r.name, observed: formatAddr(from), locals: locals.length });
    }
    this.send(from, env.txid, {
      case: "registerAck",
      value: {
        $typeName: "holepunch.v1.RegisterAck",
        name: r.name,
        observed: toWireAddress(from),
        ttlMs: this.registry.ttlMs,
        keepaliveMs: this.keepaliveMs,
      },
    });
  }

  private onKeepalive(env: EnvelopeOf<"keepalive">, from: Addr, now: number): void {
    const k = env.body.value;
    if (!this.registry.refresh(from, k.name, k.instance, now)) {
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
    if (!requester) {
      this.stats.count("punch_not_registered");
      return this.replyError(from, env.txid, ErrorCode.NOT_REGISTERED, "register before asking for a peer");
    }
    const targetName = env.body.value.target;
    if (!NAME_PATTERN.test(targetName)) {
      this.stats.count("punch_invalid");
      return this.replyError(from, env.txid, ErrorCode.NAME_INVALID, `invalid peer name ${JSON.stringify(targetName)}`);
    }
    const target = this.registry.lookup(targetName, now);
    if (!target || target === requester) {
      this.stats.count("punch_unknown");
      return this.send(from, env.txid, {
        case: "holePunchResponseUnknown",
        value: { $typeName: "holepunch.v1.HolePunchResponseUnknown", target: targetName },
      });
    }
    const token = this.introductionToken(requester, target, now);
    this.stats.count("punch_initiated");
    this.log.info("introducing", { from: requester.name, to: target.name });
    this.sendInitiate(requester, target, token, true, env.txid);
    this.sendInitiate(target, requester, token, false, 0n);
  }

  private onUnregister(env: EnvelopeOf<"unregister">, from: Addr, now: number): void {
    const u = env.body.value;
    const result = this.registry.unregister(from, u.name, u.instance, now);
    if (result === "removed") {
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
    this.stats.count("error_sent");
    this.stats.count("sent");
    this.opts.send(reply, to);
  }

  /** The same pair at the same addresses keeps its token, so retried requests join one attempt. */
  private introductionToken(a: Registration, b: Registration, now: number): Uint8Array {
    // Unordered: two clients that ask for each other join one attempt.
    const [x, y] = a.name < b.name ? [a, b] : [b, a];
    const key = `${x.name}\n${y.name}`;
    const where = `${addrKey(x.observed)} ${addrKey(y.observed)}`;
    const existing = this.intros.get(key);
    if (existing && existing.expiresAt > now && existing.where === where) return existing.token;
    if (existing) this.intros.delete(key);
    if (this.intros.size >= MAX_INTRODUCTIONS) {
      const oldest = this.intros.keys().next();
      if (!oldest.done) this.intros.delete(oldest.value);
    }
    const token = this.randomBytes(TOKEN_BYTES);
    this.intros.set(key, { token, where, expiresAt: now + INTRODUCTION_TTL });
    return token;
  }

  private sendInitiate(to: Registration, peer: Registration, token: Uint8Array, initiator: boolean, txid: bigint): void {
    this.send(to.observed, txid, {
      case: "holePunchInitiate",
      value: {
        $typeName: "holepunch.v1.HolePunchInitiate",
        peerName: peer.name,
        candidates: candidatesOf(peer),
        token,
        initiator,
      },
    });
  }

  private replyError(to: Addr, txid: bigint, code: ErrorCode, message: string, retryAfterMs = 0): void {
    this.stats.count("error_sent");
    this.send(to, txid, {
      case: "error",
      value: {
        $typeName: "holepunch.v1.Error",
        code,
        message,
        retryAfterMs,
        supportedVersions: [],
      },
    });
  }

  private send(to: Addr, txid: bigint, body: Body): void {
    this.stats.count("sent");
    this.opts.send(encodePacket(body, txid), to);
  }
}

/** Observed address first, then the LAN addresses that differ from it. */
function candidatesOf(reg: Registration): Candidate[] {
  const out = [create(CandidateSchema, { address: toWireAddress(reg.observed), kind: CandidateKind.OBSERVED })];
  const seen = new Set([addrKey(reg.observed)]);
  for (const l of reg.locals) {
    if (seen.has(addrKey(l))) continue;
    seen.add(addrKey(l));
    out.push(create(CandidateSchema, { address: toWireAddress(l), kind: CandidateKind.LOCAL }));
  }
  return out;
}
