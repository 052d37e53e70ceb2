// Keeping a registration alive: one Keepalive every interval (at most 10 s,
// under common NATs' idle timeouts). The two ways a silent server is noticed:
//
//   one server   no KeepaliveAck for 3 intervals --------------------> silent(): register again there
//   several      a Keepalive unanswered for KEEPALIVE_ACK_WAIT ------> sent again (new txid)
//                FAILOVER_AFTER_UNANSWERED unanswered in a row ------> dead(): move to the next server
//
// With one server only the latest Keepalive's txid is answered; with several,
// an ack to any Keepalive of the unanswered run counts (a slow answer is not
// a dead server). No I/O: sends through the injected function.
import { FAILOVER_AFTER_UNANSWERED, KEEPALIVE_ACK_WAIT, KEEPALIVE_INTERVAL, second } from "../constants.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import { randomTxid } from "./txid.ts";

export interface KeepaliveIO {
  /** Sends one Keepalive with this txid. */
  send(txid: bigint): void;
  /** One server: it has not answered for 3 intervals. */
  silent(): void;
  /** Several servers: FAILOVER_AFTER_UNANSWERED Keepalives in a row went unanswered. */
  dead(): void;
}

export class Keepalives {
  private timer: Timer | undefined;
  private ackTimer: Timer | undefined;
  /** Keepalives not answered yet (one server: only the latest). */
  private readonly waiting = new Set<bigint>();
  private unanswered = 0;
  private intervalMs = KEEPALIVE_INTERVAL;
  private lastAckAt = 0;
  private warnedSilent = false;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly io: KeepaliveIO,
    /** Several servers: watch every Keepalive's answer (else the single-server timing). */
    private readonly failover: boolean,
  ) {}

  /** Registered: refresh every `intervalMs` from now on. */
  start(intervalMs: number): void {
    this.stop();
    this.intervalMs = intervalMs;
    this.lastAckAt = this.clock.now();
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    this.waiting.clear();
    this.unanswered = 0;
  }

  /** One Keepalive now (e.g. to tell the server our NAT mapping). */
  sendNow(): void {
    const txid = randomTxid();
    if (!this.failover) this.waiting.clear();
    this.waiting.add(txid);
    this.io.send(txid);
    if (this.failover && !this.ackTimer) this.ackTimer = this.clock.setTimer(KEEPALIVE_ACK_WAIT, () => this.ackOverdue());
  }

  /** A KeepaliveAck with `txid`: true if it answers one of ours. */
  acked(txid: bigint): boolean {
    if (!this.waiting.has(txid)) return false;
    this.waiting.clear();
    this.unanswered = 0;
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    this.lastAckAt = this.clock.now();
    this.warnedSilent = false;
    return true;
  }

  /** `txid` is one of our unanswered Keepalives' (a NOT_REGISTERED to it counts). */
  owns(txid: bigint): boolean {
    return this.waiting.has(txid);
  }

  private schedule(): void {
    this.timer?.cancel();
    this.timer = this.clock.setTimer(this.intervalMs, () => {
      const silentFor = this.clock.now() - this.lastAckAt;
      if (!this.failover && silentFor > 3 * this.intervalMs) {
        // Lost, restarted, or a NAT that rebound us somewhere the server can't answer: start over.
        if (!this.warnedSilent) this.log.warn("server is not answering keepalives: registering again", { silent_s: Math.round(silentFor / second) });
        this.warnedSilent = true;
        this.stop();
        return this.io.silent();
      }
      this.sendNow();
      this.schedule();
    });
  }

  private ackOverdue(): void {
    this.ackTimer = undefined;
    if (this.waiting.size === 0) return;
    if (++this.unanswered >= FAILOVER_AFTER_UNANSWERED) {
      this.stop();
      return this.io.dead();
    }
    this.sendNow();
  }
}
