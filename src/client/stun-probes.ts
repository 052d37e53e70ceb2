// Binding requests to standard STUN servers (--stun), from the client's one
// socket: each answer is the address that server sees us at. A few tries
// per server, matched by transaction id and source address. No I/O of its own.
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import { formatAddr, sameAddr, type Addr } from "../net/address.ts";
import { decodeStun, encodeBindingRequest, newTransactionId, readMappedAddress } from "../stun/codec.ts";
import { SOFTWARE } from "../version.ts";
import { equalBytes } from "../crypto/kdf.ts";

/** Sends per server, this far apart (RFC 8489's 500 ms RTO, doubled each time). */
const TRIES = 4;
const FIRST_RTO_MS = 500;

interface Probe {
  server: Addr;
  transactionId: Uint8Array;
  request: Uint8Array;
  tries: number;
  timer?: Timer;
  done: boolean;
}

export class StunProbes {
  private readonly probes: Probe[];

  constructor(
    private readonly clock: Clock,
    private readonly send: (bytes: Uint8Array, to: Addr) => void,
    private readonly log: Logger,
    servers: Addr[],
    private readonly onMapped: (server: Addr, mapped: Addr) => void,
  ) {
    this.probes = servers.map((server) => {
      const transactionId = newTransactionId();
      return { server, transactionId, request: encodeBindingRequest({ transactionId, software: SOFTWARE, fingerprint: true }), tries: 0, done: false };
    });
  }

  start(): void {
    for (const p of this.probes) this.sendNext(p, FIRST_RTO_MS);
  }

  /** True when `bytes` answered one of our requests (and was used). */
  handle(bytes: Uint8Array, from: Addr): boolean {
    const p = this.probes.find((x) => !x.done && sameAddr(x.server, from));
    if (!p) return false;
    let mapped: Addr | undefined;
    try {
      const msg = decodeStun(bytes);
      if (msg.cls !== "success" || !equalBytes(msg.transactionId, p.transactionId)) return false;
      mapped = readMappedAddress(msg);
    } catch {
      return false;
    }
    if (!mapped) return false;
    p.done = true;
    p.timer?.cancel();
    this.log.debug("STUN server sees us", { server: formatAddr(p.server), mapped: formatAddr(mapped) });
    this.onMapped(p.server, mapped);
    return true;
  }

  private sendNext(p: Probe, rto: number): void {
    if (p.done) return;
    if (p.tries++ >= TRIES) {
      p.done = true;
      return this.log.info("no answer from STUN server", { server: formatAddr(p.server) });
    }
    this.send(p.request, p.server);
    p.timer = this.clock.setTimer(rto, () => this.sendNext(p, rto * 2));
  }
}
