// The client's own NAT discovery, done alongside registration: ask the
// server's main port (with the hello) and then its alternate port what
// address they see us at, from the one socket we use for everything. The same
// public port for both: an endpoint-independent ("easy") mapping; different
// ones: endpoint-dependent ("hard"). The result steers the punching strategy.
import { MappingKind } from "../gen/holepunch/v1/holepunch_pb.ts";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { formatAddr, sameAddr, type Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { randomTxid } from "./txid.ts";

/** NatProbe padding: the server never answers with more bytes than it received. */
const NAT_PROBE_PADDING = 48;
/** Tries at the alternate port, this far apart. */
const ALT_TRIES = 3;
const ALT_RETRY_MS = 300;

export class NatDiscovery {
  mapping: MappingKind = MappingKind.UNSPECIFIED;
  private mainTxid = 0n;
  private altTxid = 0n;
  private main: Addr | undefined;
  private noAlt = false;

  constructor(
    private readonly clock: Clock,
    private readonly send: (body: Body, txid: bigint, to?: Addr) => void,
    private readonly log: Logger,
    private readonly server: Addr,
    /** Called once the mapping is known. */
    private readonly learned: () => void,
  ) {}

  /** True while the answer from the alternate port is still awaited. */
  get pending(): boolean {
    return this.mapping === MappingKind.UNSPECIFIED && this.main !== undefined && !this.noAlt;
  }

  /** Asks the main port (again) until it has answered once. */
  probe(): void {
    if (this.mapping !== MappingKind.UNSPECIFIED || this.main) return;
    this.mainTxid ||= randomTxid();
    this.send(probeBody(), this.mainTxid);
  }

  onAck(txid: bigint, observed: Addr, altPort: number): void {
    if (txid === this.mainTxid && !this.main) {
      this.main = observed;
      if (!altPort) {
        this.noAlt = true; // the server has no second port: the mapping stays unknown
        return;
      }
      this.altTxid = randomTxid();
      const alt = { ip: this.server.ip, port: altPort };
      for (let i = 0; i < ALT_TRIES; i++) {
        this.clock.setTimer(i * ALT_RETRY_MS, () => this.mapping === MappingKind.UNSPECIFIED && this.send(probeBody(), this.altTxid, alt));
      }
    } else if (txid === this.altTxid && this.main && this.mapping === MappingKind.UNSPECIFIED) {
      this.mapping = sameAddr(observed, this.main) ? MappingKind.INDEPENDENT : MappingKind.DEPENDENT;
      this.log.info(this.mapping === MappingKind.INDEPENDENT ? "NAT maps every destination alike (easy)" : "NAT maps each destination differently (hard)", {
        main: formatAddr(this.main),
        alt: formatAddr(observed),
      });
      this.learned();
    }
  }
}

function probeBody(): Body {
  return { case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(NAT_PROBE_PADDING) } };
}
