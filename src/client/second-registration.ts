// A dual-stack client's second registration: once registered over one
// address family, send an additional Register (hello -> Challenge -> signed
// Register.additional) to the server's address in the other family, so the
// server learns, and can introduce, our address there too (an IPv6 address
// that needs no NAT, only a hole in a stateful firewall). Best effort: a few
// tries, then the client carries on with one family. No I/O of its own.
import { ErrorCode, type Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import { REQUEST_RTO_INITIAL } from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Identity } from "../identity/keys.ts";
import type { Logger } from "../log.ts";
import { formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { fromWireAddress } from "../protocol/wire-address.ts";
import { registerBody } from "./register-body.ts";
import { randomTxid } from "./txid.ts";

/** Sends before the second registration is given up. */
const MAX_TRIES = 4;

export interface SecondRegistrationOptions {
  name: string;
  identity: Identity;
  software: string;
  token?: string;
}

export class SecondRegistration {
  private server: Addr | undefined;
  private txid = 0n;
  private cookie: Uint8Array | undefined;
  private tries = 0;
  private rto = REQUEST_RTO_INITIAL;
  private timer: Timer | undefined;
  /** Our address as the server saw it in the other family, once registered there. */
  observed: Addr | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly send: (body: Body, txid: bigint, to: Addr) => void,
    private readonly log: Logger,
    private readonly opts: SecondRegistrationOptions,
    /** Called once the server holds our second address. */
    private readonly onRegistered: () => void = () => {},
  ) {}

  /** Registers (again) at `server`, the server's address in our other family. */
  start(server: Addr): void {
    this.stop();
    this.server = server;
    this.txid = randomTxid();
    this.cookie = undefined;
    this.tries = 0;
    this.rto = REQUEST_RTO_INITIAL;
    this.sendNext();
  }

  stop(): void {
    this.timer?.cancel();
    this.server = undefined;
  }

  /** True when `from` is the server address this registration talks to. */
  isFrom(from: Addr): boolean {
    return this.server !== undefined && sameAddr(from, this.server);
  }

  /** A validated envelope from that address. */
  handle(env: Envelope): void {
    if (!this.server || env.txid !== this.txid) return;
    const b = env.body;
    switch (b.case) {
      case "challenge":
        if (this.cookie) return;
        this.cookie = b.value.cookie;
        this.tries = 0;
        this.rto = REQUEST_RTO_INITIAL;
        return this.sendNext();
      case "registerAck":
        this.observed = fromWireAddress(b.value.observed!);
        this.log.info("registered a second address", { server: formatAddr(this.server), observed: formatAddr(this.observed) });
        this.stop();
        return this.onRegistered();
      case "error":
        // The main registration is not there (yet), or the server refuses: one family it is.
        this.log.info("second address refused", { code: ErrorCode[b.value.code] ?? b.value.code, server_said: b.value.message });
        return this.stop();
      default:
        return;
    }
  }

  private sendNext(): void {
    const server = this.server;
    if (!server) return;
    if (this.tries++ >= MAX_TRIES) {
      this.log.info("no answer from the server's other address: staying on one address family", { server: formatAddr(server) });
      return this.stop();
    }
    const o = this.opts;
    this.send(registerBody({ name: o.name, identity: o.identity, locals: [], software: o.software, token: o.token, cookie: this.cookie, txid: this.txid, additional: true }), this.txid, server);
    this.timer?.cancel();
    this.timer = this.clock.setTimer(this.rto, () => this.sendNext());
    this.rto *= 2;
  }
}
