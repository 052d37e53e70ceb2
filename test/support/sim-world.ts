// A simulated world for the state machines: a real Rendezvous and real
// HolePunchClients on the in-memory internet (sim-net.ts), in simulated time.
import { HolePunchClient, type ClientEvent, type ClientOptions, type ExtraSocketsIO } from "../../src/client/client.ts";
import { answerAltPort } from "../../src/server/alt-port.ts";
import { second } from "../../src/constants.ts";
import { generateIdentity, type Identity } from "../../src/identity/keys.ts";
import type { Addr } from "../../src/net/address.ts";
import { Rendezvous, type RendezvousOptions } from "../../src/server/rendezvous.ts";
import { SimNet, type NatKind } from "./sim-net.ts";

export const SERVER: Addr = { ip: "198.18.0.1", port: 39738 };
export type Site = "public" | NatKind;

export interface Peer {
  client: HolePunchClient;
  events: ClientEvent[];
  exit?: number;
}

export function world(lossPercent = 0, seed = 1, serverOpts: Partial<RendezvousOptions> = {}, clientOpts: Partial<ClientOptions> = {}) {
  const net = new SimNet(lossPercent, 5, seed);
  let server: Rendezvous;
  const send = net.bind(SERVER, (b, from) => server.handle(b, from));
  server = new Rendezvous({ send, now: () => net.clock.now(), ...serverOpts });
  // The alternate NAT-discovery port, as the UDP runner has it.
  const ALT = { ip: SERVER.ip, port: SERVER.port + 1 };
  const sendAlt = net.bind(ALT, (b, from) => {
    const v = answerAltPort(b, from, ALT.port);
    if ("reply" in v) sendAlt(v.reply, from);
  });
  server.altPort = ALT.port;
  let n = 0;
  const identities = new Map<string, Identity>();
  const peer = (
    name: string,
    site: Site,
    peerName?: string,
    lanOf?: string,
    timeoutMs = 30 * second,
    identity?: Identity,
    extra: Partial<ClientOptions> = {},
  ): Peer => {
    // One key per name unless told otherwise (a restarted client keeps its identity file).
    const id = identity ?? identities.get(name) ?? generateIdentity();
    identities.set(name, id);
    n++;
    let local: Addr;
    if (site === "public") local = { ip: `198.18.0.${10 + n}`, port: 5000 };
    else if (lanOf) local = { ip: `${lanOf}${10 + n}`, port: 5000 };
    else {
      const lan = `10.${n}.0.`;
      net.addNat(site, `198.18.1.${n}`, lan);
      local = { ip: `${lan}2`, port: 5000 };
    }
    const p: Peer = { events: [] } as unknown as Peer;
    let client: HolePunchClient;
    const sendFn = net.bind(local, (b, from) => client.handle(b, from));
    // Extra sockets (birthday punching) on the same host, ports 7000 up.
    const extraSends = new Map<number, (b: Uint8Array, to: Addr) => void>();
    let nextExtra = 0;
    const sockets: ExtraSocketsIO = {
      open(count, ready) {
        const ids = Array.from({ length: count }, () => ++nextExtra);
        for (const id of ids) extraSends.set(id, net.bind({ ip: local.ip, port: 7000 + id }, (b, from) => client.handle(b, from, id)));
        net.clock.setTimer(0, () => ready(ids));
      },
      send: (id, b, to) => extraSends.get(id)?.(b, to),
      close(ids) {
        for (const id of ids) {
          extraSends.delete(id);
          net.unbind({ ip: local.ip, port: 7000 + id });
        }
      },
    };
    client = new HolePunchClient({
      server: SERVER,
      name,
      identity: id,
      peer: peerName,
      timeoutMs,
      locals: site === "public" ? [] : [local],
      clock: net.clock,
      send: sendFn,
      onEvent: (e) => p.events.push(e),
      onDone: (code) => (p.exit = code),
      sockets,
      random: net.random,
      ...clientOpts,
      ...extra,
    });
    p.client = client;
    client.start();
    return p;
  };
  return { net, server: () => server, peer, identities };
}

export const connected = (p: Peer) => p.events.find((e) => e.event === "connected");
export const messages = (p: Peer) => p.events.filter((e) => e.event === "message").map((e) => (e as { text: string }).text);

