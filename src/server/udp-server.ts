// Runs a Rendezvous on real UDP sockets, with a periodic sweep. A second,
// alternate socket (another port, optionally another address) answers only
// NatProbe, so clients can compare the mappings their NAT gives two
// destinations (NAT discovery).
import { DEFAULT_PORT, SWEEP_INTERVAL } from "../constants.ts";
import { bindUdpAny, type UdpEndpoint } from "../net/udp.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { Addr } from "../net/address.ts";
import { answerAltPort } from "./alt-port.ts";
import { Rendezvous, type RendezvousOptions } from "./rendezvous.ts";

export interface ServerOptions extends Omit<RendezvousOptions, "send" | "now" | "log" | "port"> {
  /** Address to bind; default "::" (all interfaces, IPv4 and IPv6). */
  host?: string;
  /** UDP port; default 39738. 0 picks a free port. */
  port?: number;
  /** Alternate port for NAT discovery: default port + 1 (a free one when port is 0); false: none. */
  altPort?: number | false;
  /** Alternate address for NAT discovery (default: the main one). */
  altHost?: string;
  log?: Logger;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  readonly altPort: number | undefined;
  readonly core: Rendezvous;
  stop(): void;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? silentLogger;
  let core: Rendezvous | undefined;
  const udp = await bindUdpAny({
    hostname: opts.host,
    port: opts.port ?? DEFAULT_PORT,
    log,
    onPacket: (bytes, from) => core!.handle(bytes, from),
    batchSends: true,
  });
  core = new Rendezvous({ ...opts, port: udp.port, log, now: () => performance.now(), send: (b, to) => udp.send(b, to) });
  let alt: UdpEndpoint | undefined;
  if (opts.altPort !== false) {
    const altPort = opts.altPort ?? (opts.port === 0 ? 0 : udp.port + 1);
    alt = await bindUdpAny({
      hostname: opts.altHost ?? opts.host,
      port: altPort,
      log,
      onPacket: (bytes, from) => answerOnAlt(core!, alt!, bytes, from),
    });
  }
  if (alt) core.altPort = alt.port;
  const sweeper = setInterval(() => core!.sweep(), SWEEP_INTERVAL);
  return {
    port: udp.port,
    host: udp.hostname,
    altPort: alt?.port,
    core,
    stop() {
      clearInterval(sweeper);
      udp.close();
      alt?.close();
    },
  };
}

function answerOnAlt(core: Rendezvous, alt: UdpEndpoint, bytes: Uint8Array, from: Addr): void {
  const v = answerAltPort(bytes, from, alt.port);
  if ("drop" in v) return core.stats.drop(v.drop);
  // The same per-IP budget as the main port; over it, silence (a notice would
  // go out from the other port, sized against another datagram).
  if (!core.allowFrom(from, undefined, false)) return;
  core.stats.count("nat_probe_alt");
  alt.send(v.reply, from);
}
