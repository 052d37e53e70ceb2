// Runs a HolePunchClient on a real UDP socket with the real clock.
import { DEFAULT_PORT, STUN_DEFAULT_PORT } from "../constants.ts";
import { realClock } from "../clock.ts";
import { silentLogger, type Logger } from "../log.ts";
import { parseHostPort } from "../net/address.ts";
import { hasAddressOfFamily, isLoopback, localCandidates } from "../net/interfaces.ts";
import { resolveHost } from "../net/resolve.ts";
import { bindUdp, bindUdpAny, type UdpEndpoint } from "../net/udp.ts";
import { HpError } from "../errors.ts";
import type { Identity } from "../identity/keys.ts";
import type { AddressTokens } from "./address-tokens.ts";
import type { ClientOptions } from "./client-types.ts";
import { HolePunchClient, type ClientEvent, type ExtraSocketsIO, type PeerTrust } from "./client.ts";

export interface StartClientOptions {
  /** "host", "host:port" or "[v6]:port" of the rendezvous server. */
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
  let target;
  try {
    target = parseHostPort(opts.server, DEFAULT_PORT);
  } catch (e) {
    throw new HpError("BAD_ARGUMENT", `server address: ${(e as Error).message}`);
  }
  const server = { ip: await resolveHost(target.host), port: target.port };
  const stunServers = await resolveStunServers(opts.stun ?? []);
  let client: HolePunchClient | undefined;
  const udp = await bindUdpAny({
    hostname: opts.bindHost ?? (server.ip.includes(":") ? "::" : undefined),
    port: opts.bindPort ?? 0,
    log,
    onPacket: (bytes, from) => client?.handle(bytes, from),
  });
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
  const lan = opts.lan ?? !isLoopback(server.ip);
  const locals = lan ? localCandidates(udp.port, udp.hostname === "::") : [];
  client = new HolePunchClient({
    server,
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
    // A dual-stack socket on a host with an address in the server's other family: register that one too.
    otherFamily: udp.hostname === "::" && !isLoopback(server.ip) && hasAddressOfFamily(!server.ip.includes(":")),
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
