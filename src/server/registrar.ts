// Registration: hello -> Challenge (cookie) -> signed Register -> RegisterAck.
// The cookie proves the source address receives (anti-spoofing and
// anti-amplification), the signature proves the key, the replay cache makes
// a captured Register useless, and the optional allow-list / shared token
// keep a private server private. No I/O: answers through `reply`.
import { ErrorCode, type Register } from "../gen/holepunch/v1/holepunch_pb.ts";
import { COOKIE_LIFETIME, MAX_REPLAY_ENTRIES, NAME_PATTERN, REGISTRY_FULL_RETRY_AFTER, SECRET_BYTES, ZERO_RTT_CLOCK_SKEW } from "../constants.ts";
import { checkAddressToken, checkCookie, makeAddressToken, makeCookie, registerSigningInput } from "../crypto/server-auth.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { verify } from "../identity/keys.ts";
import { addrKey, formatAddr, isPrivateIp, type Addr } from "../net/address.ts";
import { toWireAddress, fromWireAddress } from "../protocol/wire-address.ts";
import type { Body } from "../protocol/packet.ts";
import type { Logger } from "../log.ts";
import type { Registry, Registration } from "./registry.ts";
import type { SecondAddresses } from "./second-addresses.ts";
import type { Stats } from "./stats.ts";

export interface RegistrarOptions {
  /** name -> key; when set, only these pairs may register. */
  allow?: Map<string, Uint8Array>;
  /** When set, a Register must carry this token. */
  token?: string;
  keepaliveMs: number;
  /** Where this server can be reached, told to clients so they can add an address of their other family. */
  serverAddresses?: Addr[];
  /** The sender's address is proven (cookie or address token) and its signature verified: replies need no anti-amplification bound. */
  onVerified?: () => void;
  /** Wall clock, ms since the epoch (0-RTT client times are checked against it; default Date.now). */
  wallNow?: () => number;
  /** After a (main) registration is acknowledged: e.g. the introduction it asked for (Register.connect_to). */
  onRegistered?: (reg: Registration, r: Register, txid: bigint, from: Addr, now: number) => void;
  /** A cluster: make an accepted registration the cluster's before acknowledging it; false when another key holds the name at another instance. */
  claim?: (reg: Registration) => Promise<boolean>;
}

const isV6 = (a: Addr) => a.ip.includes(":");

type Reply = (to: Addr, txid: bigint, body: Body) => void;
type ReplyError = (to: Addr, txid: bigint, code: ErrorCode, message: string, retryAfterMs?: number) => void;

/** Constant-time string comparison (for the shared token). */
function sameText(a: string, b: string): boolean {
  const enc = new TextEncoder();
  return equalBytes(enc.encode(a), enc.encode(b));
}

export class Registrar {
  private readonly cookieKey: Uint8Array;
  /** signature (hex) -> the registration it made (a handle); expires with the cookie. */
  private readonly used = new Map<string, { reg: Registration; expiresAt: number; additional: boolean }>();

  constructor(
    private readonly registry: Registry,
    private readonly seconds: SecondAddresses,
    private readonly stats: Stats,
    private readonly log: Logger,
    private readonly reply: Reply,
    private readonly replyError: ReplyError,
    private readonly randomBytes: (n: number) => Uint8Array,
    private readonly opts: RegistrarOptions,
  ) {
    this.cookieKey = randomBytes(32);
  }

  handle(r: Register, txid: bigint, from: Addr, now: number): void {
    if (!NAME_PATTERN.test(r.name)) {
      this.stats.count("register_invalid");
      return this.replyError(from, txid, ErrorCode.NAME_INVALID, "invalid name: use 1-32 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
    }
    // No cookie: a hello (answered with one), or a 0-RTT attempt whose address
    // token proves the source IP (else it is answered as a hello).
    const zeroRtt = r.cookie.length === 0 && r.addressToken.length > 0 && !r.additional && this.zeroRttOk(r, from, now);
    if (r.cookie.length === 0 && !zeroRtt) {
      this.stats.count("register_hello");
      return this.reply(from, txid, { case: "challenge", value: { $typeName: "holepunch.v1.Challenge", cookie: makeCookie(this.cookieKey, now, from, r.publicKey) } });
    }
    const sigKey = Buffer.from(r.signature).toString("hex");
    const seen = this.used.get(sigKey);
    if (seen && seen.expiresAt > now) return this.onReplay(seen, r, txid, from, now);
    if (!zeroRtt && !checkCookie(this.cookieKey, r.cookie, now, from, r.publicKey)) {
      this.stats.count("register_bad_cookie");
      return this.replyError(from, txid, ErrorCode.BAD_SIGNATURE, "cookie expired or not for this address: start again");
    }
    if (!verify(r.publicKey, registerSigningInput(r), r.signature)) {
      this.stats.count("register_bad_signature");
      return this.replyError(from, txid, ErrorCode.BAD_SIGNATURE, "signature does not verify");
    }
    this.opts.onVerified?.();
    const allowed = this.opts.allow?.get(r.name);
    if ((this.opts.allow && (!allowed || !equalBytes(allowed, r.publicKey))) || (this.opts.token !== undefined && !sameText(r.token, this.opts.token))) {
      this.stats.count("register_not_allowed");
      return this.replyError(from, txid, ErrorCode.NOT_ALLOWED, "this server does not accept that name and key");
    }
    if (r.additional) return this.addSecond(r, sigKey, txid, from, now);
    // LAN candidates must be LAN addresses: peers probe them, so a public one
    // would let a client aim other clients' probes at a third party.
    const locals = r.localAddresses.map(fromWireAddress).filter((a) => isPrivateIp(a.ip));
    const res = this.registry.register(r.name, r.publicKey, this.randomBytes(SECRET_BYTES), from, locals, now);
    if (!res.ok) {
      this.stats.count(`register_${res.code.toLowerCase()}`);
      if (res.code === "NAME_TAKEN") return this.replyError(from, txid, ErrorCode.NAME_TAKEN, "name is registered to another key");
      const why = res.code === "TOO_MANY_FROM_IP" ? "too many names registered from your address" : "server registry is full";
      return this.replyError(from, txid, ErrorCode.REGISTRY_FULL, why, REGISTRY_FULL_RETRY_AFTER);
    }
    if (!this.opts.claim) return this.accept(res, r, sigKey, zeroRtt, txid, from, now);
    const reg = res.reg;
    void this.opts.claim(reg).then((ours) => {
      if (!reg.current) return; // gone meanwhile (unregistered, replaced)
      this.opts.onVerified?.(); // a later datagram reset the reply budget
      if (ours) return this.accept(res, r, sigKey, zeroRtt, txid, from, now);
      this.registry.forget(r.name, r.publicKey);
      this.stats.count("register_name_taken");
      this.replyError(from, txid, ErrorCode.NAME_TAKEN, "name is registered to another key");
    });
  }

  private accept(res: { reg: Registration; isNew: boolean; moved: boolean }, r: Register, sigKey: string, zeroRtt: boolean, txid: bigint, from: Addr, now: number): void {
    const locals = res.reg.locals;
    // A 0-RTT signature stays replayable for as long as its client time is accepted (both ways).
    this.remember(sigKey, res.reg, now, false, zeroRtt ? 2 * ZERO_RTT_CLOCK_SKEW : COOKIE_LIFETIME);
    this.stats.count(zeroRtt ? "register_ok_0rtt" : "register_ok");
    if (res.isNew || res.moved) {
      this.log.info(res.isNew ? "registered" : "moved", { name: r.name, observed: formatAddr(from), locals: locals.length });
    }
    this.ack(res.reg, txid, now);
    this.opts.onRegistered?.(res.reg, r, txid, from, now);
  }

  /** Forgets used signatures whose cookies have expired. */
  sweep(now: number): void {
    for (const [k, v] of this.used) {
      if (v.expiresAt > now) break;
      this.used.delete(k);
    }
  }

  /**
   * Register.additional: the sender's address (the cookie proved it) becomes
   * the second observed address of the live registration with this key. Only
   * in the other address family: one address per family.
   */
  private addSecond(r: Register, sigKey: string, txid: bigint, from: Addr, now: number): void {
    const reg = this.registry.lookup(r.name, now);
    if (!reg || !equalBytes(reg.publicKey, r.publicKey)) {
      this.stats.count("register_additional_unknown");
      return this.replyError(from, txid, ErrorCode.NOT_REGISTERED, "register before adding an address");
    }
    if (isV6(reg.observed) === isV6(from)) {
      this.stats.count("register_additional_same_family");
      return this.replyError(from, txid, ErrorCode.NOT_ALLOWED, "an additional address must be of the other address family");
    }
    this.seconds.set(r.name, from, reg.secret, now);
    this.remember(sigKey, reg, now, true);
    this.stats.count("register_additional_ok");
    this.log.info("added address", { name: r.name, observed: formatAddr(from) });
    this.ackSecond(reg, from, txid);
  }

  private onReplay(seen: { reg: Registration; additional: boolean }, r: Register, txid: bigint, from: Addr, now: number): void {
    // A retransmission by the client itself (our ack was lost) is harmless to
    // answer again; anything else is a replay and changes nothing.
    const live = this.registry.lookup(r.name, now);
    const reg = seen.reg;
    if (reg.is(live) && !seen.additional && addrKey(reg.observed) === addrKey(from)) return this.ack(reg, txid, now);
    const second = reg.is(live) && seen.additional ? this.seconds.get(reg, now) : undefined;
    if (second && addrKey(second) === addrKey(from)) return this.ackSecond(reg, from, txid);
    this.stats.drop("register_replay");
  }

  private remember(sigKey: string, reg: Registration, now: number, additional: boolean, ttlMs = COOKIE_LIFETIME): void {
    if (this.used.size >= MAX_REPLAY_ENTRIES) {
      const oldest = this.used.keys().next();
      if (!oldest.done) this.used.delete(oldest.value);
    }
    this.used.set(sigKey, { reg, expiresAt: now + ttlMs, additional });
  }

  /** 0-RTT: our address token for this IP and key, still fresh, and a client time close to ours. */
  private zeroRttOk(r: Register, from: Addr, now: number): boolean {
    if (!checkAddressToken(this.cookieKey, r.addressToken, now, from.ip, r.publicKey)) {
      this.stats.count("register_0rtt_bad_token");
      return false;
    }
    if (Math.abs(Number(r.clientTimeMs) - (this.opts.wallNow ?? Date.now)()) > ZERO_RTT_CLOCK_SKEW) {
      this.stats.count("register_0rtt_clock_skew");
      return false;
    }
    return true;
  }

  private ackSecond(reg: Registration, from: Addr, txid: bigint): void {
    this.reply(from, txid, {
      case: "registerAck",
      value: {
        $typeName: "holepunch.v1.RegisterAck",
        name: reg.name,
        observed: toWireAddress(from),
        ttlMs: this.registry.ttlMs,
        keepaliveMs: this.opts.keepaliveMs,
        secret: new Uint8Array(),
        serverAddresses: [],
        addressToken: new Uint8Array(),
      },
    });
  }

  private ack(reg: Registration, txid: bigint, now: number): void {
    this.reply(reg.observed, txid, {
      case: "registerAck",
      value: {
        $typeName: "holepunch.v1.RegisterAck",
        name: reg.name,
        observed: toWireAddress(reg.observed),
        ttlMs: this.registry.ttlMs,
        keepaliveMs: this.opts.keepaliveMs,
        secret: reg.secret,
        serverAddresses: (this.opts.serverAddresses ?? []).filter((a) => isV6(a) !== isV6(reg.observed)).map(toWireAddress),
        addressToken: makeAddressToken(this.cookieKey, now, reg.observed.ip, reg.publicKey),
      },
    });
  }
}
