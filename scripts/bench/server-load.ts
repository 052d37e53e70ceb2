// Server request rate over loopback: hp-server in its own process (rate
// limiting off), a closed-loop load generator with many sockets and several
// requests in flight each. Reports replies/s and the server's CPU time per
// request (from /proc, so it does not depend on the generator's speed).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";

const SOCKETS = 32;
const IN_FLIGHT = 8;
const SECONDS = 3;
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

async function startServerProcess() {
  const root = join(import.meta.dir, "../..");
  const p = Bun.spawn([process.execPath, join(root, "src/cli/server.ts"), "--host", "127.0.0.1", "--port", "0", "--rate", "0"], {
    stderr: "pipe",
  });
  const reader = p.stderr.getReader();
  let text = "";
  while (!/listening on .*:(\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { p, port: Number(/listening on .*:(\d+)/.exec(text)![1]) };
}

interface Gen {
  socket: { send(data: Uint8Array, port: number, address: string): boolean; close(): void };
  lastReply: number;
}

async function load(port: number, pid: number, make: (i: number) => Body) {
  let replies = 0;
  const gens: Gen[] = [];
  const packets = Array.from({ length: SOCKETS }, (_, i) => encodePacket(make(i), BigInt(i + 1)));
  for (let i = 0; i < SOCKETS; i++) {
    const g: Gen = { lastReply: 0 } as Gen;
    g.socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          replies++;
          g.lastReply = performance.now();
          s.send(packets[i]!, port, "127.0.0.1");
        },
        error() {},
      },
    });
    gens.push(g);
  }
  // Register every generator socket first (keepalives and requests need it).
  for (const [i, g] of gens.entries()) g.socket.send(encodePacket(register(`gen${i}`, i)), port, "127.0.0.1");
  await Bun.sleep(200);
  replies = 0;
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  const gen0 = process.cpuUsage();
  for (const g of gens) for (let k = 0; k < IN_FLIGHT; k++) g.socket.send(packets[gens.indexOf(g)]!, port, "127.0.0.1");
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
  const serverCpu = (cpuTicks(pid) - c0) / CLK_TCK;
  const genCpu = process.cpuUsage(gen0);
  for (const g of gens) g.socket.close();
  return { rate: replies / secs, serverUsPerReq: (serverCpu * 1e6) / replies, genCpuShare: (genCpu.user + genCpu.system) / 1e6 / secs };
}

function register(name: string, i: number): Body {
  const instance = new Uint8Array(16);
  new DataView(instance.buffer).setUint32(0, i + 1);
  return { case: "register", value: { $typeName: "holepunch.v1.Register", name, instance, localAddresses: [], software: "bench" } };
}

export async function benchServer(): Promise<Array<[string, string]>> {
  const { p, port } = await startServerProcess();
  const out: Array<[string, string]> = [];
  try {
    const modes: Array<[string, (i: number) => Body]> = [
      ["Register (refresh)", (i) => register(`gen${i}`, i)],
      ["Keepalive", (i) => ({ case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: `gen${i}`, instance: (register("", i).value as { instance: Uint8Array }).instance } })],
      ["HolePunchRequest (unknown peer)", () => ({ case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "nobody" } })],
      ["HolePunchRequest (known peer: 2 Initiates)", (i) => ({ case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: `gen${(i + 1) % SOCKETS}` } })],
    ];
    for (const [name, make] of modes) {
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

// Keep decodePacket referenced for readers: replies are counted, not decoded, to spare the generator.
void decodePacket;
