// Runs a Rendezvous on real UDP sockets, with a periodic sweep. A second,
// alternate socket (another port, optionally another address) answers only
// NatProbe, so clients can compare the mappings their NAT gives two
// destinations (NAT discovery).
import { DEFAULT_PORT, MAX_SERVER_ADDRESSES, SERVER_RECEIVE_BUFFER_BYTES, SWEEP_INTERVAL } from "../constants.ts";
import { serverIps } from "../net/interfaces.ts";
import { setReceiveBuffer } from "../net/socket-options.ts";
import { bindUdpAny, type UdpEndpoint } from "../net/udp.ts";
import { silentLogger, type Logger } from "../log.ts";
import { isIP } from "node:net";
import { normalizeIp, type Addr } from "../net/address.ts";
import type { StunSockets } from "./stun-responder.ts";
import { answerAltPort } from "./alt-port.ts";
import { classify } from "../protocol/packet.ts";
import { Rendezvous, type RendezvousOptions } from "./rendezvous.ts";
import { hostname } from "node:os";
import { RedisCluster } from "../cluster/redis-cluster.ts";
import { HpError } from "../errors.ts";
import { startOpsServer, type OpsServer } from "../ops/http.ts";
import { snapshotOf } from "./snapshot.ts";

/** A URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
}

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
  /** Redis URL (redis:// or rediss://): run as one instance of a cluster sharing registrations there. */
  redis?: string;
  /** This instance's id in the cluster (default: <hostname>:<port>); a restart with the same id takes its registrations back. */
  instanceId?: string;
  /** Serve Prometheus /metrics, /healthz and a status page on this HTTP address. */
  metrics?: { host: string; port: number };
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  readonly altPort: number | undefined;
  readonly core: Rendezvous;
  /** This instance's id (a cluster's member name; also shown when standalone). */
  readonly instance: string;
  /** The metrics HTTP port, when --metrics is on. */
  readonly metricsPort: number | undefined;
  /** Registrations taken back from Redis at start (a restart). */
  readonly restored: number;
  stop(): void;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? silentLogger;
  let core: Rendezvous | undefined;
  const udp = await bindUdpAny({
    hostname: opts.host,
    port: opts.port ?? DEFAULT_PORT,
    log,
    onPacket: (bytes, from) => (bytes[0]! <= 3 && classify(bytes) === "stun" ? stun(bytes, from, false) : core!.handle(bytes, from)),
    batchSends: true,
  });
  await setReceiveBuffer(udp.fd, SERVER_RECEIVE_BUFFER_BYTES, log);
  const startedAtMs = Date.now();
  const instance = opts.instanceId ?? `${hostname()}:${udp.port}`;
  let cluster: RedisCluster | undefined;
  if (opts.redis !== undefined) {
    try {
      cluster = new RedisCluster({ url: opts.redis, instance, log });
    } catch (e) {
      udp.close();
      throw new HpError("BAD_ARGUMENT", `--redis ${redactUrl(opts.redis)}: ${(e as Error).message}`);
    }
    await cluster.start();
  }
  core = new Rendezvous({
    cluster,
    serverIps: serverIps(udp.hostname, MAX_SERVER_ADDRESSES),
    ...opts,
    port: udp.port,
    log,
    now: () => performance.now(),
    send: (b, to) => udp.send(b, to),
  });
  let alt: UdpEndpoint | undefined;
  if (opts.altPort !== false) {
    const altPort = opts.altPort ?? (opts.port === 0 ? 0 : udp.port + 1);
    alt = await bindUdpAny({
      hostname: opts.altHost ?? opts.host,
      port: altPort,
      log,
      onPacket: (bytes, from) => (classify(bytes) === "stun" ? stun(bytes, from, true) : answerOnAlt(core!, alt!, bytes, from)),
      batchSends: true,
    });
  }
  if (alt) core.altPort = alt.port;
  // A second address for the alternate port (--alt-host): clients are told where it is.
  const altOtherIp = alt !== undefined && opts.altHost !== undefined && isIP(opts.altHost) !== 0 && normalizeIp(opts.altHost) !== normalizeIp(udp.hostname);
  if (altOtherIp) core.altIp = normalizeIp(opts.altHost!);
  // STUN on either socket; CHANGE-REQUEST answers leave from the other one.
  const sockets = stunSockets(udp, alt, altOtherIp);
  const allocMain = (n: number) => udp.alloc(n);
  const allocAlt = (n: number) => alt!.alloc(n);
  function stun(bytes: Uint8Array, from: Addr, onAlt: boolean): void {
    const v = core!.answerStun(bytes, from, onAlt ? sockets.alt : sockets.main, onAlt ? allocAlt : allocMain);
    if (v) (v.viaOther !== onAlt ? alt! : udp).send(v.reply, from);
  }
  const restored = core.cluster ? await core.cluster.restore().catch(() => 0) : 0;
  if (restored > 0) log.info("cluster: took back this instance's registrations from redis", { instance, registrations: restored });
  const sweeper = setInterval(() => core!.sweep(), SWEEP_INTERVAL);
  let ops: OpsServer | undefined;
  if (opts.metrics) {
    try {
      ops = await startOpsServer({ host: opts.metrics.host, port: opts.metrics.port, log, snapshot: () => snapshotOf(core!, startedAtMs, instance) });
    } catch (e) {
      clearInterval(sweeper);
      udp.close();
      alt?.close();
      cluster?.close();
      throw new HpError("SOCKET_ERROR", `cannot serve metrics on ${opts.metrics.host} port ${opts.metrics.port}: ${(e as Error).message}`);
    }
  }
  return {
    port: udp.port,
    host: udp.hostname,
    altPort: alt?.port,
    core,
    instance,
    metricsPort: ops?.port,
    restored,
    stop() {
      clearInterval(sweeper);
      ops?.stop();
      cluster?.close();
      udp.close();
      alt?.close();
    },
  };
}

/** What each socket's "other" is, for STUN's CHANGE-REQUEST; addresses only where bound to a specific IP. */
function stunSockets(udp: UdpEndpoint, alt: UdpEndpoint | undefined, altOtherIp: boolean): { main: StunSockets; alt: StunSockets } {
  if (!alt) return { main: {}, alt: {} };
  const wildcard = (h: string) => h === "::" || h === "0.0.0.0";
  const other = altOtherIp ? "other-ip" : "same-ip";
  const main = wildcard(udp.hostname) ? undefined : { ip: normalizeIp(udp.hostname), port: udp.port };
  const second = wildcard(alt.hostname) ? undefined : { ip: normalizeIp(alt.hostname), port: alt.port };
  return { main: { other, self: main, otherAddr: second }, alt: { other, self: second, otherAddr: main } };
}

function answerOnAlt(core: Rendezvous, alt: UdpEndpoint, bytes: Uint8Array, from: Addr): void {
  const v = answerAltPort(bytes, from, alt.port, core.altIp);
  if ("drop" in v) return core.stats.drop(v.drop);
  // The same per-IP budget as the main port; over it, silence (a notice would
  // go out from the other port, sized against another datagram).
  if (!core.allowFrom(from, undefined, false)) return;
  core.stats.count("nat_probe_alt");
  alt.send(v.reply, from);
}
