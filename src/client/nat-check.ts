// NAT discovery, like Tailscale's netcheck: from two sockets, ask the
// server's main and alternate ports what address they see us at, in order,
// and classify the NAT's mapping (RFC 4787): one public port for every
// destination (endpoint-independent, "easy"), a new port per destination
// allocated in steps (sequential: predictable), or at random ("hard").
import { DEFAULT_PORT, second } from "../constants.ts";
import { HpError } from "../errors.ts";
import { bytesToIp, formatAddr, parseHostPort, type Addr } from "../net/address.ts";
import { resolveHost } from "../net/resolve.ts";
import { bindUdpAny, type UdpEndpoint } from "../net/udp.ts";
import { classify as classifyPacket, decodePacket, encodePacket } from "../protocol/packet.ts";
import { decodeStun, encodeBindingRequest, newTransactionId, readMappedAddress } from "../stun/codec.ts";
import { SOFTWARE } from "../version.ts";
import { fromWireAddress } from "../protocol/wire-address.ts";
import { silentLogger } from "../log.ts";

export type Mapping = "endpoint-independent" | "endpoint-dependent-sequential" | "endpoint-dependent-random" | "unknown";

export interface NatReport {
  udp: boolean;
  mapping: Mapping;
  /** Port step between consecutive mappings, for sequential NATs. */
  step?: number;
  /** The local port was kept as the public port. */
  portPreserved: boolean;
  /** What each server endpoint saw, in the order asked. */
  observations: Array<{ socket: number; server: string; observed: string }>;
}

/**
 * Classifies the mappings seen, in asking order (time order), each from
 * socket `sockets[i]` (default: pairs, [1, 1, 2, 2, ...]: the server's main
 * and alternate ports from each socket). Easy: every socket got one public
 * address for all its destinations. Sequential: each new mapping one fixed
 * step after the previous, whichever socket made it. Else random.
 */
export function classify(ports: number[], ips: string[], sockets: number[] = ports.map((_, i) => 1 + (i >> 1))): { mapping: Mapping; step?: number } {
  if (ports.length < 2) return { mapping: "unknown" };
  const firstOf = new Map<number, number>();
  let independent = true;
  ports.forEach((p, i) => {
    const j = firstOf.get(sockets[i]!);
    if (j === undefined) firstOf.set(sockets[i]!, i);
    else if (ports[j] !== p || ips[j] !== ips[i]) independent = false;
  });
  if (independent) return { mapping: "endpoint-independent" };
  const deltas = ports.slice(1).map((p, i) => p - ports[i]!);
  const step = deltas[0]!;
  if (deltas.length >= 3 && step !== 0 && Math.abs(step) <= 16 && deltas.every((d) => d === step)) {
    return { mapping: "endpoint-dependent-sequential", step };
  }
  return { mapping: "endpoint-dependent-random" };
}

async function ask(udp: UdpEndpoint, inbox: Map<bigint, Addr & { alt: number; altIp?: string }>, to: Addr, txid: bigint, timeoutMs: number) {
  // Padded: the server never answers with more bytes than it received.
  const probe = encodePacket({ case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(48) } }, txid);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    udp.send(probe, to);
    for (let t = 0; t < 10 && !inbox.has(txid); t++) await Bun.sleep(50);
    if (inbox.has(txid)) return inbox.get(txid);
  }
  return undefined;
}

/** Asks a STUN server (Binding) what address it sees `udp` at. */
async function askStun(udp: UdpEndpoint, inbox: Map<string, Addr>, to: Addr, timeoutMs: number): Promise<Addr | undefined> {
  const transactionId = newTransactionId();
  const key = Buffer.from(transactionId).toString("hex");
  const request = encodeBindingRequest({ transactionId, software: SOFTWARE, fingerprint: true });
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    udp.send(request, to);
    for (let t = 0; t < 10 && !inbox.has(key); t++) await Bun.sleep(50);
    if (inbox.has(key)) return inbox.get(key);
  }
  return undefined;
}

export async function natCheck(server: string, timeoutMs = 3 * second, stun: Addr[] = []): Promise<NatReport> {
  const target = parseHostPort(server, DEFAULT_PORT);
  const ip = await resolveHost(target.host);
  const main: Addr = { ip, port: target.port };
  const sockets: UdpEndpoint[] = [];
  const inbox = new Map<bigint, Addr & { alt: number; altIp?: string }>();
  const stunInbox = new Map<string, Addr>();
  const onPacket = (bytes: Uint8Array) => {
    try {
      if (classifyPacket(bytes) === "stun") {
        const msg = decodeStun(bytes);
        const mapped = msg.cls === "success" ? readMappedAddress(msg) : undefined;
        if (mapped) stunInbox.set(Buffer.from(msg.transactionId).toString("hex"), mapped);
        return;
      }
      const env = decodePacket(bytes);
      if (env.body.case === "natProbeAck") {
        const v = env.body.value;
        inbox.set(env.txid, { ...fromWireAddress(v.observed!), alt: v.altPort, altIp: v.altIp.length ? bytesToIp(v.altIp) : undefined });
      }
    } catch {
      // not for us
    }
  };
  try {
    for (let i = 0; i < 2; i++) sockets.push(await bindUdpAny({ hostname: ip.includes(":") ? "::" : undefined, port: 0, log: silentLogger, onPacket }));
    const observations: NatReport["observations"] = [];
    // In asking order (time order matters for sequential NATs): socket 1 -> main,
    // socket 1 -> alt, socket 2 -> main, socket 2 -> alt, then each STUN server
    // from socket 1, then from socket 2.
    const seen: Array<{ socket: number; got: Addr | undefined }> = [];
    let txid = 1n;
    let altPort = 0;
    let altIp: string | undefined;
    for (const [i, udp] of sockets.entries()) {
      const first = await ask(udp, inbox, main, txid++, timeoutMs);
      seen.push({ socket: i + 1, got: first });
      if (first) {
        altPort ||= first.alt;
        altIp ??= first.altIp;
        observations.push({ socket: i + 1, server: formatAddr(main), observed: formatAddr(first) });
      }
      if (!altPort) continue;
      const alt = { ip: altIp ?? ip, port: altPort };
      const second_ = await ask(udp, inbox, alt, txid++, timeoutMs);
      seen.push({ socket: i + 1, got: second_ });
      if (second_) observations.push({ socket: i + 1, server: formatAddr(alt), observed: formatAddr(second_) });
    }
    for (const [i, udp] of sockets.entries()) {
      for (const s of stun) {
        const got = await askStun(udp, stunInbox, s, timeoutMs);
        seen.push({ socket: i + 1, got });
        if (got) observations.push({ socket: i + 1, server: `stun ${formatAddr(s)}`, observed: formatAddr(got) });
      }
    }
    const answered = seen.filter((s): s is { socket: number; got: Addr } => s.got !== undefined);
    if (answered.length === 0) return { udp: false, mapping: "unknown", portPreserved: false, observations };
    // Classify only from complete sets (a lost answer must not look like a "hard"
    // NAT): all of them, else socket 1's alone; one destination per socket tells nothing.
    const fromFirst = seen.filter((s) => s.socket === 1);
    const complete = answered.length === seen.length ? answered : fromFirst.every((s) => s.got) ? (fromFirst as typeof answered) : [];
    const destinations = Math.max(...[1, 2].map((k) => complete.filter((s) => s.socket === k).length));
    const verdict =
      complete.length >= 2 && destinations >= 2
        ? classify(complete.map((s) => s.got.port), complete.map((s) => s.got.ip), complete.map((s) => s.socket))
        : { mapping: "unknown" as const };
    return { udp: true, ...verdict, portPreserved: seen[0]?.got?.port === sockets[0]!.port, observations };
  } catch (e) {
    if (e instanceof HpError) throw e;
    throw new HpError("SOCKET_ERROR", (e as Error).message);
  } finally {
    for (const s of sockets) s.close();
  }
}
