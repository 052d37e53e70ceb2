// The client's conversation with the rendezvous server: register, keep the
// registration (and the NAT mapping to the server) alive, and ask for
// introductions. Every request is retransmitted with exponential backoff.
// No I/O: sends through the injected function, times through the Clock.
import { ErrorCode, type Envelope, type HolePunchInitiate } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  KEEPALIVE_INTERVAL,
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
import { formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { fromWireAddress, toWireAddress } from "../protocol/wire-address.ts";

export interface ServerLinkEvents {
  registered(observed: Addr, first: boolean): void;
  initiate(init: HolePunchInitiate): void;
  fatal(code: HpErrorCode, message: string): void;
}

export interface ServerLinkOptions {
  name: string;
  instance: Uint8Array;
  locals: Addr[];
  software: string;
  registerTimeoutMs?: number;
}

type Phase = "idle" | "registering" | "registered" | "closed";


export class ServerLink {
  private phase: Phase = "idle";
  private everRegistered = false;
  private registerStartedAt = 0;
  private rto = REQUEST_RTO_INITIAL;
  private registerTxid = 0n;
  private registerTimer: Timer | undefined;
  private keepaliveTimer: Timer | undefined;
  private keepaliveMs = KEEPALIVE_INTERVAL;
  private lastAckAt = 0;
  private warnedSilent = false;
  observed: Addr | undefined;

  private target: string | undefined;
  private introTxid = 0n;
  private introRto = REQUEST_RTO_INITIAL;
  private introTimer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly send: (body: Body, txid: bigint) => void,
    private readonly log: Logger,
    private readonly events: ServerLinkEvents,
    private readonly opts: ServerLinkOptions,
  ) {}

  get isRegistered(): boolean {
    return this.phase === "registered";
  }

  start(): void {
    this.beginRegister();
  }

  /** Keep asking the server to introduce us to `target` until stopIntroducing(). */
  introduce(target: string): void {
    this.target = target;
    this.introTxid = randomTxid(); // one txid for every (re)send of this introduction
    this.introRto = REQUEST_RTO_INITIAL;
    if (this.phase === "registered") this.sendIntroRequest();
  }

  stopIntroducing(): void {
    this.target = undefined;
    this.introTimer?.cancel();
  }

  close(): void {
    if (this.phase === "registered") {
      // Free the name now, so a restarted client can take it at once. Sent
      // twice, unanswered: if both are lost the name expires at its TTL.
      const body: Body = { case: "unregister", value: { $typeName: "holepunch.v1.Unregister", name: this.opts.name, instance: this.opts.instance } };
      this.send(body, randomTxid());
      this.send(body, randomTxid());
    }
    this.phase = "closed";
    this.registerTimer?.cancel();
    this.keepaliveTimer?.cancel();
    this.stopIntroducing();
  }

  /** A validated envelope that came from the server's address. */
  handle(env: Envelope): void {
    if (this.phase === "closed") return;
    const b = env.body;
    switch (b.case) {
      case "registerAck":
        if (env.txid !== this.registerTxid || this.phase !== "registering") return;
        return this.onRegistered(fromWireAddress(b.value.observed!), b.value.keepaliveMs);
      case "keepaliveAck": {
        this.lastAckAt = this.clock.now();
        this.warnedSilent = false;
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
      case "holePunchInitiate":
        if (this.target !== undefined && env.txid === this.introTxid) {
          this.introRto = REQUEST_RTO_INITIAL;
          this.scheduleIntro(REINTRODUCE_INTERVAL);
        }
        return this.events.initiate(b.value);
      case "error":
        return this.onError(env.txid, b.value.code, b.value.message, b.value.retryAfterMs);
      default:
        return;
    }
  }

  private beginRegister(): void {
    this.phase = "registering";
    this.registerTxid = randomTxid();
    this.registerStartedAt = this.clock.now();
    this.rto = REQUEST_RTO_INITIAL;
    this.keepaliveTimer?.cancel();
    this.introTimer?.cancel();
    this.sendRegister();
  }

  private sendRegister(): void {
    const limit = this.opts.registerTimeoutMs ?? REGISTER_TIMEOUT;
    if (!this.everRegistered && this.clock.now() - this.registerStartedAt >= limit) {
      return this.fatal("SERVER_UNREACHABLE", `no answer from the server after ${Math.round(limit / second)} s`);
    }
    // One txid per registration cycle: a late answer to an earlier copy still counts.
    this.send(
      {
        case: "register",
        value: {
          $typeName: "holepunch.v1.Register",
          name: this.opts.name,
          instance: this.opts.instance,
          localAddresses: this.opts.locals.map(toWireAddress),
          software: this.opts.software,
        },
      },
      this.registerTxid,
    );
    let wait = this.rto;
    this.rto = Math.min(this.rto * 2, this.everRegistered ? REREGISTER_RTO_MAX : REQUEST_RTO_MAX);
    if (!this.everRegistered) wait = Math.min(wait, this.registerStartedAt + limit - this.clock.now());
    this.registerTimer?.cancel();
    this.registerTimer = this.clock.setTimer(wait, () => this.sendRegister());
  }

  private onRegistered(observed: Addr, keepaliveMs: number): void {
    this.registerTimer?.cancel();
    const first = !this.everRegistered;
    this.everRegistered = true;
    this.phase = "registered";
    this.observed = observed;
    this.keepaliveMs = keepaliveMs > 0 ? Math.min(keepaliveMs, KEEPALIVE_INTERVAL) : KEEPALIVE_INTERVAL;
    this.lastAckAt = this.clock.now();
    this.scheduleKeepalive();
    const resumeIntro = this.target !== undefined; // re-registered while introducing
    this.events.registered(observed, first);
    if (resumeIntro) this.sendIntroRequest();
  }

  private scheduleKeepalive(): void {
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = this.clock.setTimer(this.keepaliveMs, () => {
      if (this.phase !== "registered") return;
      const silentFor = this.clock.now() - this.lastAckAt;
      if (silentFor > 3 * this.keepaliveMs && !this.warnedSilent) {
        this.warnedSilent = true;
        this.log.warn("server is not answering keepalives", { silent_s: Math.round(silentFor / second) });
      }
      this.send(
        { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: this.opts.name, instance: this.opts.instance } },
        randomTxid(),
      );
      this.scheduleKeepalive();
    });
  }

  private sendIntroRequest(): void {
    if (this.target === undefined || this.phase !== "registered") return;
    this.send({ case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: this.target } }, this.introTxid);
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
        return this.fatal("UNSUPPORTED_VERSION", `server: ${message}`);
      case ErrorCode.REGISTRY_FULL:
        if (!forRegister) return;
        if (!this.everRegistered) return this.fatal("REGISTRY_FULL", message);
        this.registerTimer?.cancel();
        this.registerTimer = this.clock.setTimer(Math.max(retryAfterMs, second), () => this.sendRegister());
        return;
      case ErrorCode.NOT_REGISTERED:
        if (this.phase !== "registered") return;
        this.log.info("server forgot us (expired or NAT rebinding): registering again", { server_said: message });
        return this.beginRegister();
      case ErrorCode.RATE_LIMITED: {
        this.log.warn("rate limited by the server", { retry_after_ms: retryAfterMs });
        const wait = Math.max(retryAfterMs, second);
        if (this.phase === "registering") {
          this.registerTimer?.cancel();
          this.registerTimer = this.clock.setTimer(wait, () => this.sendRegister());
        } else if (this.target !== undefined) this.scheduleIntro(wait);
        return;
      }
      default:
        this.log.warn("server error", { code, message });
    }
  }

  private fatal(code: HpErrorCode, message: string): void {
    this.close();
    this.events.fatal(code, message);
  }
}

export function randomTxid(): bigint {
  const b = crypto.getRandomValues(new BigUint64Array(1));
  return b[0]! === 0n ? 1n : b[0]!;
}
