// The client's own NAT discovery, done alongside registration: ask the
// server's main port (with the hello), then its alternate port, and any
// standard STUN servers given (--stun), what address they see us at, all from
// the one socket we use for everything. The same public address for every
// destination: an endpoint-independent ("easy") mapping; any two different:
// endpoint-dependent ("hard"). STUN servers on other IPs also catch NATs that
// map per destination address but not per port. The result steers the
// punching strategy. No I/O of its own.
import { MappingKind } from "../gen/holepunch/v1/holepunch_pb.ts";
import type { Clock, Timer } from "../clock.ts";
import { MAX_PORT_STEP } from "../constants.ts";
import type { Logger } from "../log.ts";
import { formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { StunProbes } from "./stun-probes.ts";
import { randomTxid } from "./txid.ts";

/** NatProbe padding: the server never answers with more bytes than it received. */
const NAT_PROBE_PADDING = 48;
/** Tries at the alternate port, this far apart. */
const ALT_TRIES = 3;
const ALT_RETRY_MS = 300;
/** After the main port's answer, decide with what has arrived by then. */
const DECIDE_AFTER_MS = 2_000;

export interface StunServers {
  servers: Addr[];
  /** Sends raw STUN bytes from our socket. */
  send: (bytes: Uint8Array, to: Addr) => void;
}

export class NatDiscovery {
  mapping: MappingKind = MappingKind.UNSPECIFIED;
  /** With SEQUENTIAL: the port step from the main port's mapping to the alternate's. */
  step = 0;
  private mainTxid = 0n;
  private altTxid = 0n;
  private main: Addr | undefined;
  private noAlt = false;
  /** What each destination saw, in arrival order (label -> address). */
  private readonly seen = new Map<string, Addr>();
  private expected = 1;
  private decideTimer: Timer | undefined;
  private readonly stun: StunProbes | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly send: (body: Body, txid: bigint, to?: Addr) => void,
    private readonly log: Logger,
    /** The server's main address (the current one, with several). */
    private readonly server: () => Addr,
    /** Called once the mapping is known. */
    private readonly learned: () => void,
    stun?: StunServers,
  ) {
    if (stun?.servers.length) {
      this.stun = new StunProbes(clock, stun.send, log, stun.servers, (from, mapped) => this.observe(`stun ${formatAddr(from)}`, mapped));
      this.expected += stun.servers.length;
    }
  }

  /** True while answers are still awaited. */
  get pending(): boolean {
    return this.mapping === MappingKind.UNSPECIFIED && this.main !== undefined && (!this.noAlt || this.stun !== undefined);
  }

  /** Asks the main port (again) until it has answered once; the STUN servers start with the first ask. */
  probe(): void {
    if (this.mapping !== MappingKind.UNSPECIFIED || this.main) return;
    if (!this.mainTxid) this.stun?.start();
    this.mainTxid ||= randomTxid();
    this.send(probeBody(), this.mainTxid);
  }

  /** A STUN datagram from anywhere: ours if it answers one of our Binding requests. */
  onStun(bytes: Uint8Array, from: Addr): boolean {
    return this.stun?.handle(bytes, from) ?? false;
  }

  /** The server's alternate NAT-discovery address, once its main port told us. */
  alt: Addr | undefined;

  onAck(txid: bigint, observed: Addr, altPort: number, altIp?: string): void {
    if (txid === this.mainTxid && !this.main) {
      this.main = observed;
      if (altPort) {
        this.expected++;
        this.altTxid = randomTxid();
        const alt = (this.alt = { ip: altIp ?? this.server().ip, port: altPort });
        for (let i = 0; i < ALT_TRIES; i++) {
          this.clock.setTimer(i * ALT_RETRY_MS, () => this.mapping === MappingKind.UNSPECIFIED && this.send(probeBody(), this.altTxid, alt));
        }
      } else this.noAlt = true; // the server has no second port
      this.decideTimer = this.clock.setTimer(DECIDE_AFTER_MS, () => this.decide(true));
      this.observe("main", observed);
    } else if (txid === this.altTxid && this.main) {
      this.observe("alt", observed);
    }
  }

  private observe(label: string, addr: Addr): void {
    if (this.mapping !== MappingKind.UNSPECIFIED || this.seen.has(label)) return;
    this.seen.set(label, addr);
    this.decide(false);
  }

  /** Hard once two answers differ (and the alternate port has answered); easy once every answer is in and all agree; at the deadline, from at least two. */
  private decide(deadline: boolean): void {
    if (this.mapping !== MappingKind.UNSPECIFIED || !this.main) return;
    const all = [...this.seen.values()];
    if (all.length < 2) {
      // One destination tells nothing about how the NAT maps different ones.
      if (deadline) this.log.info("NAT mapping unknown: too few answers", { answers: all.length });
      return;
    }
    const differs = all.some((a) => !sameAddr(a, all[0]!));
    // Hard: wait for the alternate port's answer (its step tells sequential from random).
    // Easy: wait for every answer. At the deadline, decide with what there is.
    const altPending = this.altTxid !== 0n && !this.seen.has("alt");
    if (!deadline && (differs ? altPending : all.length < this.expected)) return;
    this.decideTimer?.cancel();
    this.mapping = differs ? MappingKind.DEPENDENT : MappingKind.INDEPENDENT;
    // The main port's mapping, then the alternate's, a small step apart on one IP:
    // a sequential allocator (the next destination will likely get one more step).
    const alt = this.seen.get("alt");
    const step = alt && alt.ip === this.main.ip ? alt.port - this.main.port : 0;
    if (differs && step !== 0 && Math.abs(step) <= MAX_PORT_STEP) {
      this.mapping = MappingKind.SEQUENTIAL;
      this.step = step;
    }
    const views = Object.fromEntries([...this.seen].map(([k, v]) => [k, formatAddr(v)]));
    const verdict = { [MappingKind.INDEPENDENT]: "NAT maps every destination alike (easy)", [MappingKind.SEQUENTIAL]: `NAT maps each destination to the next port (step ${this.step}): predictable` };
    this.log.info(verdict[this.mapping as 1 | 3] ?? "NAT maps each destination differently (hard)", views);
    this.learned();
  }
}

function probeBody(): Body {
  return { case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(NAT_PROBE_PADDING) } };
}
