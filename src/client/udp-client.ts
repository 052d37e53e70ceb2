// Runs a HolePunchClient on a real UDP socket with the real clock.
import { DEFAULT_PORT, STUN_DEFAULT_PORT } from "../constants.ts";
import { realClock } from "../clock.ts";
import { silentLogger, type Logger } from "../log.ts";
import { formatAddr, parseHostPort, type Addr } from "../net/address.ts";
import { hasAddressOfFamily, isLoopback, localCandidates } from "../net/interfaces.ts";
import { resolveAll, resolveHost } from "../net/resolve.ts";
import { bindUdp, bindUdpAny, type UdpEndpoint } from "../net/udp.ts";
import { HpError } from "../errors.ts";
import type { Identity } from "../identity/keys.ts";
import type { AddressTokens } from "./address-tokens.ts";
import type { ClientOptions } from "./client-types.ts";
import { HolePunchClient, type ClientEvent, type ExtraSocketsIO, type PeerTrust } from "./client.ts";
import { dedupeAddrs, parseServerList, usableFrom, type ServerEntry } from "./server-list.ts";

export interface StartClientOptions {
  /**
   * "host", "host:port" or "[v6]:port" of the rendezvous server, or several, comma-separated
   * ("a.example:39738,10.0.0.2,[2001:db8::1]:39738"). A name stands for all its addresses. With
   * more than one address the client fails over to the next when its server stops answering.
   */
  server: string;
  name: string;
  /** This client's Ed25519 identity. */
  identity: Identity;
  peer?: string;
  /** Accept only this key for `peer`. */
  peerKey?: Uint8Array;
  /** Known peers (default: in memory, trust on first use). */
  trust?: PeerTrust;
  /** Shared registration token for servers run with --token. */
  token?: string;
  /** Use the server's relay when punching fails (default true). */
  relay?: boolean;
  timeoutMs?: number;
  /** Advertise this host's LAN addresses (default true, except when the server is on loopback). */
  lan?: boolean;
  /** Servers' address tokens for 0-RTT registration (default: in memory). */
  addressTokens?: AddressTokens;
  /** The peer opened a stream (other than chat): return true to accept it (default: refuse). */
  onStream?: ClientOptions["onStream"];
  onDatagram?: ClientOptions["onDatagram"];
  /** Standard STUN servers ("host[:port]", default port 3478) to ask for our mapping too. */
  stun?: string[];
  /** Local address and port to bind (default all interfaces, a free port). */
  bindHost?: string;
  bindPort?: number;
  log?: Logger;
  onEvent: (e: ClientEvent) => void;
  onDone?: (exitCode: number) => void;
}

export interface RunningClient {
  readonly client: HolePunchClient;
  readonly port: number;
  stop(reason?: string): void;
}

export async function startClient(opts: StartClientOptions): Promise<RunningClient> {
  const log = opts.log ?? silentLogger;
  let entries: ServerEntry[];
  try {
    entries = parseServerList(opts.server, DEFAULT_PORT);
  } catch (e) {
    throw new HpError("BAD_ARGUMENT", (e as Error).message);
  }
  const resolved = await resolveServers(entries, log);
  const stunServers = await resolveStunServers(opts.stun ?? []);
  let client: HolePunchClient | undefined;
  const udp = await bindUdpAny({
    hostname: opts.bindHost ?? (resolved.every(isV6) ? "::" : undefined),
    port: opts.bindPort ?? 0,
    log,
    onPacket: (bytes, from) => client?.handle(bytes, from),
  });
  // Only addresses of a family this socket can reach (a dual-stack "::" reaches both).
  const servers = usableFrom(resolved, udp.hostname);
  if (servers.length === 0) {
    udp.close();
    throw new HpError("RESOLVE_FAILED", `no address of ${opts.server} is reachable from a socket bound to ${udp.hostname}`);
  }
  if (servers.length < resolved.length) log.info("skipping server addresses of the other family", { bound: udp.hostname, skipped: resolved.length - servers.length });
  if (servers.length > 1) log.info("rendezvous servers, in order of use", { servers: servers.map(formatAddr).join(",") });
  // Extra sockets for birthday punching, opened on demand and closed when done.
  const extra = new Map<number, UdpEndpoint>();
  let nextId = 1;
  const sockets: ExtraSocketsIO = {
    open(n, ready) {
      void (async () => {
        const ids: number[] = [];
        for (let i = 0; i < n; i++) {
          const id = nextId++;
          try {
            extra.set(id, await bindUdp({ hostname: udp.hostname, port: 0, log, onPacket: (bytes, from) => client?.handle(bytes, from, id) }));
            ids.push(id);
          } catch (e) {
            log.warn("could not open more sockets for punching", { opened: ids.length, error: (e as Error).message });
            break;
          }
        }
        ready(ids);
      })();
    },
    send: (id, bytes, to) => void extra.get(id)?.send(bytes, to),
    close(ids) {
      for (const id of ids) {
        extra.get(id)?.close();
        extra.delete(id);
      }
    },
  };
  const lan = opts.lan ?? !servers.every((s) => isLoopback(s.ip));
  const locals = lan ? localCandidates(udp.port, udp.hostname === "::") : [];
  client = new HolePunchClient({
    server: servers,
    name: opts.name,
    identity: opts.identity,
    peer: opts.peer,
    peerKey: opts.peerKey,
    trust: opts.trust,
    token: opts.token,
    relay: opts.relay,
    sockets,
    timeoutMs: opts.timeoutMs,
    locals,
    stunServers,
    addressTokens: opts.addressTokens,
    onStream: opts.onStream,
    onDatagram: opts.onDatagram,
    // A dual-stack socket on a host with an address in the servers' other family: register that one too.
    otherFamily: udp.hostname === "::" && servers.every((s) => !isLoopback(s.ip) && hasAddressOfFamily(!isV6(s))),
    clock: realClock,
    send: (bytes, to) => udp.send(bytes, to),
    onEvent: opts.onEvent,
    onDone: opts.onDone,
    log,
  });
  client.start();
  return {
    client,
    port: udp.port,
    stop(reason = "closed") {
      client!.close(reason);
      udp.close();
      sockets.close([...extra.keys()]);
    },
  };
}

const isV6 = (a: Addr): boolean => a.ip.includes(":");

/**
 * Every address of every entry, in the order given (a name's in the resolver's order), without
 * repeats. An entry that does not resolve is skipped with a warning while others do; none: the first error.
 */
async function resolveServers(entries: ServerEntry[], log: Logger): Promise<Addr[]> {
  const results = await Promise.allSettled(entries.map((e) => resolveAll(e.host)));
  const out: Addr[] = [];
  results.forEach((r, i) => {
    if (r.status === "fulfilled") out.push(...r.value.map((ip) => ({ ip, port: entries[i]!.port })));
  });
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (out.length === 0) throw failed[0]!.reason;
  for (const f of failed) log.warn(`${(f.reason as Error).message}: using the other servers`);
  return dedupeAddrs(out);
}

/** "host[:port]" of STUN servers, resolved (default port 3478). */
export async function resolveStunServers(list: string[]): Promise<Array<{ ip: string; port: number }>> {
  const out = [];
  for (const s of list) {
    let t;
    try {
      t = parseHostPort(s, STUN_DEFAULT_PORT);
    } catch (e) {
      throw new HpError("BAD_ARGUMENT", `--stun ${s}: ${(e as Error).message}`);
    }
    out.push({ ip: await resolveHost(t.host), port: t.port });
  }
  return out;
}
