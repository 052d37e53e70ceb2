// Server request rate over loopback: hp-server in its own process (rate
// limiting off), a closed-loop load generator with many sockets, each
// registered first, and several requests in flight each. Replies are counted,
// not decoded, to spare the generator. Reports replies/s and the server's CPU
// time per reply (from /proc, so it does not depend on the generator's speed).
import { cpuSeconds } from "./proc-stats.ts";
import { join } from "node:path";
import { generateIdentity } from "../../src/identity/keys.ts";
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";
import { hello, keepalive, punchRequest, signedRegister } from "../../test/support/script-client.ts";

const SOCKETS = 32;
const IN_FLIGHT = 8;
const SECONDS = 3;
/** One key per generator name, kept across runs: a name stays bound to its key. */
const genIds = Array.from({ length: SOCKETS }, () => generateIdentity());


async function startServerProcess() {
  const root = join(import.meta.dir, "../..");
  const p = Bun.spawn([process.execPath, join(root, "src/cli/server.ts"), "--host", "127.0.0.1", "--port", "0", "--rate", "0"], {
    stderr: "pipe",
  });
  const reader = p.stderr.getReader();
  let text = "";
  while (!/listening on \S*:(\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  // Keep draining its logs: a full pipe would block the server.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (process.env.HP_BENCH_DEBUG) process.stderr.write(new TextDecoder().decode(value));
    }
  })();
  return { p, port: Number(/listening on \S*:(\d+)/.exec(text)![1]) };
}

interface Gen {
  socket: { send(data: Uint8Array, port: number, address: string): boolean; close(): void };
  lastReply: number;
  secret?: Uint8Array;
  loading: boolean;
}

/** Registers every generator socket (hello, Challenge, signed Register) before the load starts. */
async function openGenerators(port: number, onReply: (i: number) => void): Promise<Gen[]> {
  const gens: Gen[] = [];
  for (let i = 0; i < SOCKETS; i++) {
    const id = genIds[i]!;
    const g: Gen = { lastReply: 0, loading: false } as Gen;
    g.socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, buf) {
          if (g.loading) return onReply(i);
          const env = decodePacket(new Uint8Array(buf));
          if (env.body.case === "challenge") s.send(encodePacket(signedRegister(`gen${i}`, id, env.body.value.cookie), 1n), port, "127.0.0.1");
          if (env.body.case === "registerAck") g.secret = env.body.value.secret;
        },
        error() {},
      },
    });
    gens.push(g);
  }
  // Retry until all are in: the previous run's backlog can overflow the server's socket buffer.
  for (let t = 0; t < 50 && gens.some((g) => !g.secret); t++) {
    gens.forEach((g, i) => g.secret || g.socket.send(encodePacket(hello(`gen${i}`, genIds[i]!), 1n), port, "127.0.0.1"));
    await Bun.sleep(100);
  }
  if (gens.some((g) => !g.secret)) throw new Error(`generator sockets did not all register (${gens.filter((g) => !g.secret).length} of ${SOCKETS} missing)`);
  return gens;
}

async function load(port: number, pid: number, make: (i: number, secret: Uint8Array) => Body) {
  let replies = 0;
  let packets: Uint8Array[] = [];
  const gens: Gen[] = await openGenerators(port, (i) => {
    replies++;
    gens[i]!.lastReply = performance.now();
    gens[i]!.socket.send(packets[i]!, port, "127.0.0.1");
  });
  packets = gens.map((g, i) => encodePacket(make(i, g.secret!), BigInt(i + 1)));
  for (const g of gens) g.loading = true;
  const t0 = performance.now();
  const c0 = cpuSeconds(pid) ?? 0;
  const gen0 = process.cpuUsage();
  gens.forEach((g, i) => {
    for (let k = 0; k < IN_FLIGHT; k++) g.socket.send(packets[i]!, port, "127.0.0.1");
  });
  // Refill windows that lost packets (kernel buffers overflow under load).
  const refill = setInterval(() => {
    const now = performance.now();
    gens.forEach((g, i) => {
      if (now - g.lastReply > 50) for (let k = 0; k < IN_FLIGHT; k++) g.socket.send(packets[i]!, port, "127.0.0.1");
    });
  }, 50);
  await Bun.sleep(SECONDS * 1000);
  clearInterval(refill);
  const secs = (performance.now() - t0) / 1000;
  const serverCpu = (cpuSeconds(pid) ?? 0) - c0;
  const genCpu = process.cpuUsage(gen0);
  for (const g of gens) g.socket.close();
  return { rate: replies / secs, serverUsPerReq: (serverCpu * 1e6) / replies, genCpuShare: (genCpu.user + genCpu.system) / 1e6 / secs };
}

export async function benchServer(): Promise<Array<[string, string]>> {
  const { p, port } = await startServerProcess();
  const out: Array<[string, string]> = [];
  const ids = [generateIdentity(), generateIdentity()];
  try {
    const modes: Array<[string, (i: number, secret: Uint8Array) => Body]> = [
      ["Register hello (-> Challenge)", (i) => hello(`new${i}`, ids[i % ids.length]!)],
      ["Keepalive", (i, secret) => keepalive(`gen${i}`, secret)],
      ["HolePunchRequest (unknown peer)", (_i, secret) => punchRequest("nobody", secret)],
      ["HolePunchRequest (known peer: 2 Initiates)", (i, secret) => punchRequest(`gen${(i + 1) % SOCKETS}`, secret)],
    ];
    for (const [name, make] of modes) {
      if (process.env.HP_BENCH_DEBUG) console.error(`mode: ${name}`);
      const r = await load(port, p.pid, make);
      out.push([
        `server: ${name}`,
        `${Math.round(r.rate / 1000)}k replies/s; server ${r.serverUsPerReq.toFixed(1)} µs CPU/reply; generator at ${Math.round(r.genCpuShare * 100)} % of a core`,
      ]);
    }
  } finally {
    p.kill();
    await p.exited;
  }
  return out;
}
