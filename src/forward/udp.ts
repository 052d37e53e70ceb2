// UDP forwarding over the session's unreliable datagrams (hp-client
// --forward udp:PORT / --expose udp:HOST:PORT): right for WireGuard and games,
// which do their own loss handling. Each local source address is a flow; the
// exposing side gives each flow its own socket to the target, so replies find
// their way back. A datagram larger than the transport can carry is dropped
// (and counted): keep tunnelled MTUs at or under maxDatagramBytes.
//
// Flow id (uint32): bit 31 = reply (exposer -> forwarder), bits 30..15 = the
// exposed target port asked for (0: the only UDP expose), bits 14..0 = the
// forwarder's flow number (1..32767).
import type { Logger } from "../log.ts";
import { normalizeIp, type Addr } from "../net/address.ts";
import { bindUdp, type UdpEndpoint } from "../net/udp.ts";
import { type Expose, type Forward, matchExpose } from "./spec.ts";

const REPLY = 0x8000_0000;
const MAX_FLOWS = 0x7fff;
/** A flow with no traffic for this long is forgotten (its socket closed on the exposing side). */
const FLOW_IDLE_MS = 120_000;

export const flowId = (targetPort: number, n: number, reply = false) => ((reply ? REPLY : 0) | (targetPort << 15) | n) >>> 0;
export const flowParts = (flow: number) => ({ reply: (flow & REPLY) !== 0, targetPort: (flow >>> 15) & 0xffff, n: flow & MAX_FLOWS });

type Send = (flow: number, data: Uint8Array) => boolean;

/** --forward udp:PORT[:TARGET]: datagrams to 127.0.0.1:PORT go to the peer; its replies come back to their source. */
export async function forwardUdp(f: Forward, send: Send, log: Logger): Promise<{ onReply(flow: number, data: Uint8Array): void; close(): void }> {
  const bySource = new Map<string, { n: number; from: Addr; at: number }>();
  const byN = new Map<number, { from: Addr; at: number }>();
  let next = 1;
  let dropped = 0;
  const local: UdpEndpoint = await bindUdp({
    hostname: "127.0.0.1",
    port: f.localPort,
    log,
    onPacket: (bytes, from) => {
      const key = `${from.ip}:${from.port}`;
      let e = bySource.get(key);
      if (!e) {
        if (byN.size >= MAX_FLOWS) return void dropped++;
        while (byN.has(next)) next = (next % MAX_FLOWS) + 1;
        e = { n: next, from, at: 0 };
        bySource.set(key, e);
        byN.set(e.n, e);
      }
      e.at = performance.now();
      if (!send(flowId(f.targetPort ?? 0, e.n), new Uint8Array(bytes))) dropped++;
    },
  });
  const sweeper = setInterval(() => {
    const old = performance.now() - FLOW_IDLE_MS;
    for (const [k, e] of bySource) if (e.at < old) (bySource.delete(k), byN.delete(e.n));
  }, FLOW_IDLE_MS / 4);
  return {
    onReply(flow, data) {
      const e = byN.get(flowParts(flow).n);
      if (e) local.send(data, e.from);
    },
    close() {
      clearInterval(sweeper);
      local.close();
      if (dropped) log.info("UDP forward: datagrams not sent", { dropped });
    },
  };
}

/** --expose udp:HOST:PORT: the peer's flows, each from its own socket to the target. */
export function exposeUdp(exposes: readonly Expose[], resolveIp: (host: string) => string | undefined, send: Send, log: Logger) {
  const flows = new Map<number, { socket: Promise<UdpEndpoint | undefined>; at: number }>();
  const sweeper = setInterval(() => {
    const old = performance.now() - FLOW_IDLE_MS;
    for (const [k, e] of flows) if (e.at < old) (flows.delete(k), void e.socket.then((s) => s?.close()));
  }, FLOW_IDLE_MS / 4);
  return {
    onRequest(flow: number, data: Uint8Array): void {
      const { targetPort } = flowParts(flow);
      const target = matchExpose(targetPort ? `udp:${targetPort}` : "udp", exposes);
      const ip = target && resolveIp(target.host);
      if (!target || !ip) return;
      let e = flows.get(flow);
      if (!e) {
        if (flows.size >= MAX_FLOWS) return;
        const reply = flowId(targetPort, flowParts(flow).n, true);
        // Only the target's answers go back to the peer: anything else reaching this socket is dropped.
        const fromTarget = (a: Addr) => a.ip === normalizeIp(ip) && a.port === target.port;
        const socket = bindUdp({ hostname: ip.includes(":") ? "::" : "0.0.0.0", port: 0, log, onPacket: (bytes, from) => void (fromTarget(from) && send(reply, new Uint8Array(bytes))) }).catch((err: Error) => {
          log.warn("UDP expose: no socket", { error: err.message });
          return undefined;
        });
        flows.set(flow, (e = { socket, at: 0 }));
      }
      e.at = performance.now();
      const to = { ip, port: target.port };
      void e.socket.then((s) => s?.send(data, to));
    },
    close(): void {
      clearInterval(sweeper);
      for (const e of flows.values()) void e.socket.then((s) => s?.close());
      flows.clear();
    },
  };
}
