// Throughput on loopback, encryption on, beside plain UDP between the same
// two endpoints (as a ratio):
//   plain UDP    this process blasts DATAGRAM_BYTES datagrams (sendMany
//                batches) at a sink in a child process; bytes/s received.
//   stream       two hp-client processes (the real CLI) with --pipe, bob's
//                stdin PIPE_BYTES of random bytes, read off alice's stdout to
//                the end and checked by SHA-256; from bob's "connected" to the
//                last byte at alice (also from bob's spawn).
//   UDP forward  bob --forward udp:PORT, alice --expose udp:SINK; blasted like
//                the plain case; bytes/s at the sink, and the loss end to end.
// The sink is this file run as a child (`bun throughput.ts sink`): it prints
// cumulative counts with its own timestamps, so rates are over its clock.
// CPU seconds per process from /proc (Linux; left out elsewhere).
// Standalone: `bun scripts/bench/throughput.ts` prints the rows.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuSeconds } from "./proc-stats.ts";
import type { Subprocess } from "bun";
import { startServer } from "../../src/server/udp-server.ts";
import { Transport } from "../../src/transport/index.ts";
import { realClock } from "../../src/clock.ts";

const second = 1000;
const MiB = 1024 * 1024;
/** Plain UDP payload: about a sealed transport packet's size (MAX_TRANSPORT_PACKET_BYTES). */
const DATAGRAM_BYTES = 1100;
/** Forwarded payload: what fits one transport datagram (maxDatagramBytes, a little over 1000). */
const FORWARD_BYTES = 1000;
const BLAST_SECONDS = 3;
/** Counted from this long after the blast starts (slow start, flows set up). */
const WARMUP = 0.5 * second;
/** After the blast, wait this long for datagrams still on their way. */
const STRAGGLERS = 0.5 * second;
const BATCH = 64;
/** The blaster sends for this long per event-loop turn, then yields. */
const SLICE = 5;
const SAMPLE_EVERY = 100;
const PIPE_BYTES = 64 * MiB;
const PIPE_DEADLINE = 30 * second;
const START_DEADLINE = 10 * second;
const CLI = join(import.meta.dir, "../../src/cli/client.ts");

const children = new Set<Subprocess>();
const MBps = (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
const wall = () => performance.timeOrigin + performance.now();

/**
 * Datagrams the kernel dropped on pid's UDP sockets (receive buffer full),
 * from /proc/net/udp; with `port`, only on the socket bound to that port.
 * Undefined without /proc.
 */
function kernelDrops(pid: number, port?: number): number | undefined {
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    }
    let drops = 0;
    for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        const local = Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
        if (f.length > 12 && inodes.has(f[9]!) && (port === undefined || local === port)) drops += Number(f[12]);
      }
    }
    return drops;
  } catch {
    return undefined;
  }
}

function spawn(argv: string[], opts: { env?: Record<string, string | undefined>; stdin?: "ignore" | Blob | ReturnType<typeof Bun.file> } = {}) {
  const p = Bun.spawn(argv, { stdin: opts.stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env: opts.env });
  children.add(p);
  void p.exited.then(() => children.delete(p));
  return p;
}

/** Reads a child's stream line by line, keeping every line with the time it arrived. */
function lineLog(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
  const lines: Array<{ at: number; text: string }> = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  void (async () => {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const at = performance.now();
      const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = parts.pop()!;
      for (const text of parts) (lines.push({ at, text }), onLine?.(text));
      for (const w of waiters.splice(0)) w();
    }
    ended = true;
    for (const w of waiters.splice(0)) w();
  })();
  return {
    lines,
    /** When a line matching re arrived (ms, performance.now()); rejects at ms or when the stream ends first. */
    async waitFor(re: RegExp, ms: number, what: string): Promise<{ at: number; text: string }> {
      const until = performance.now() + ms;
      for (;;) {
        const hit = lines.find((l) => re.test(l.text));
        if (hit) return hit;
        const all = lines.map((l) => l.text).join("\n");
        if (ended) throw new Error(`${what}: the process ended first:\n${all}`);
        const left = until - performance.now();
        if (left <= 0) throw new Error(`${what}: not within ${ms} ms:\n${all}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => (clearTimeout(t), r()));
        });
      }
    },
  };
}

interface Sample {
  t: number;
  bytes: number;
  datagrams: number;
}

/** The sink child: counts what arrives, prints its port and then cumulative counts every SAMPLE_EVERY ms. */
async function startSink() {
  const p = spawn([process.execPath, import.meta.path, "sink"]);
  const samples: Sample[] = [];
  const out = lineLog(p.stdout as ReadableStream<Uint8Array>, (l) => l.startsWith("{\"t\"") && samples.push(JSON.parse(l) as Sample));
  void lineLog(p.stderr as ReadableStream<Uint8Array>, (l) => process.stderr.write(`sink: ${l}\n`));
  const port = Number(/^port (\d+)$/.exec((await out.waitFor(/^port \d+$/, START_DEADLINE, "sink")).text)![1]);
  return { p, port, samples };
}

async function runSink(): Promise<void> {
  let bytes = 0;
  let datagrams = 0;
  const s = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, buf) {
        bytes += buf.length;
        datagrams++;
      },
      error(_s, e) {
        process.stderr.write(`socket error: ${e.message}\n`);
      },
    },
  });
  process.stdout.write(`port ${s.port}\n`);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0); // orphaned: the bench is gone
    process.stdout.write(JSON.stringify({ t: wall(), bytes, datagrams }) + "\n");
  }, SAMPLE_EVERY);
}

/** Sends `size`-byte datagrams to 127.0.0.1:port as fast as sendMany takes them, for `ms`. */
async function blast(port: number, size: number, ms: number) {
  let sent = 0;
  let failed = 0;
  const payload = new Uint8Array(size).fill(0x5a);
  const batch: Array<Uint8Array | number | string> = [];
  for (let i = 0; i < BATCH; i++) batch.push(payload, port, "127.0.0.1");
  const s = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {},
      error() {
        failed++;
      },
    },
  });
  const t0 = wall();
  const end = performance.now() + ms;
  try {
    while (performance.now() < end) {
      const slice = performance.now() + SLICE;
      while (performance.now() < slice) {
        try {
          sent += s.sendMany(batch);
        } catch {
          failed++;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    s.close();
  }
  return { t0, t1: wall(), sent, failed, size };
}

/** Blasts at a sink, waits for stragglers; the received rate between WARMUP and the blast's end, and the loss over all. */
async function measureBlast(target: number, sink: Awaited<ReturnType<typeof startSink>>, size: number) {
  const before = sink.samples.at(-1)?.bytes ?? 0;
  const b = await blast(target, size, BLAST_SECONDS * second);
  await Bun.sleep(STRAGGLERS + SAMPLE_EVERY);
  const window = sink.samples.filter((x) => x.t >= b.t0 + WARMUP && x.t <= b.t1);
  if (window.length < 2) throw new Error(`sink: too few samples in the blast window (${window.length})`);
  const [first, last] = [window[0]!, window.at(-1)!];
  const received = sink.samples.at(-1)!.bytes - before;
  return {
    rate: (last.bytes - first.bytes) / ((last.t - first.t) / second),
    offered: (b.sent * size) / ((b.t1 - b.t0) / second),
    loss: b.sent ? 1 - received / (b.sent * size) : 1,
    sent: b.sent,
    received,
    failed: b.failed,
  };
}

/** A free UDP port on 127.0.0.1 (bound, then released). */
async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {}, error() {} } });
  const port = s.port;
  s.close();
  return port;
}

/** An hp-client with its own config dir (identity, known peers). */
function client(server: string, args: string[], home: string, stdin?: ReturnType<typeof Bun.file>) {
  const p = spawn([process.execPath, CLI, server, ...args, "--no-relay"], { env: { ...process.env, XDG_CONFIG_HOME: home }, stdin });
  return { p, log: lineLog(p.stderr as ReadableStream<Uint8Array>) };
}

const cpuRow = (label: string, pids: Array<[string, number | undefined]>) =>
  pids.some(([, v]) => v === undefined) ? "" : `; CPU ${label}: ${pids.map(([who, v]) => `${who} ${v!.toFixed(2)} s`).join(", ")}`;

async function benchPipe(server: string, dir: string, plain: number): Promise<Array<[string, string]>> {
  const data = randomBytes(PIPE_BYTES);
  const want = createHash("sha256").update(data).digest("hex");
  const file = join(dir, "pipe-input");
  writeFileSync(file, data);
  const alice = client(server, ["alice", "--pipe"], join(dir, "alice"));
  await alice.log.waitFor(/registered as alice/, START_DEADLINE, "alice registering");
  const t0 = performance.now();
  const bob = client(server, ["bob", "alice", "--pipe"], join(dir, "bob"), Bun.file(file));
  const hash = createHash("sha256");
  let got = 0;
  let firstByte = 0;
  let lastByte = 0;
  const reading = (async () => {
    for await (const chunk of alice.p.stdout as ReadableStream<Uint8Array>) {
      if (!firstByte) firstByte = performance.now();
      hash.update(chunk);
      got += chunk.length;
      lastByte = performance.now();
    }
  })();
  const connected = await bob.log.waitFor(/connected to alice/, START_DEADLINE, "bob connecting");
  const cpuAtConnect = [cpuSeconds(alice.p.pid), cpuSeconds(bob.p.pid)];
  // Kernel drops on each side's sockets, polled (the counts go with the process).
  const drops0 = [kernelDrops(alice.p.pid), kernelDrops(bob.p.pid)];
  const drops = [...drops0];
  const poll = setInterval(() => [alice.p.pid, bob.p.pid].forEach((pid, i) => (drops[i] = kernelDrops(pid) ?? drops[i])), SAMPLE_EVERY);
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`--pipe: ${got} of ${PIPE_BYTES} bytes after ${PIPE_DEADLINE} ms`)), PIPE_DEADLINE)));
  try {
    await Promise.race([Promise.all([reading, alice.p.exited, bob.p.exited]), deadline]);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
  const codes = [alice.p.exitCode, bob.p.exitCode];
  const sha = hash.digest("hex");
  const cpu = (p: Subprocess, atConnect: number | undefined) => {
    const u = p.resourceUsage()?.cpuTime;
    return u && atConnect !== undefined ? Number(u.user + u.system) / 1e6 - atConnect : undefined;
  };
  const transferCpu: Array<[string, number | undefined]> = [["bob (sender)", cpu(bob.p, cpuAtConnect[1])], ["alice (receiver)", cpu(alice.p, cpuAtConnect[0])]];
  const ok = got === PIPE_BYTES && sha === want && codes.every((c) => c === 0);
  if (!ok) process.stderr.write(`throughput: --pipe MISMATCH: ${got} of ${PIPE_BYTES} bytes, sha256 ${sha === want ? "matches" : `${sha} ≠ ${want}`}, exit codes ${codes}\n`);
  const rate = got / ((lastByte - connected.at) / second);
  const path = /\((direct|relay)/.exec(connected.text)?.[1] ?? "?";
  return [
    [
      "throughput: stream (--pipe, encrypted) on loopback",
      `${ok ? "" : `**MISMATCH: ${got} of ${PIPE_BYTES} B, sha256 ${sha === want ? "ok" : "differs"}, exit ${codes}** `}` +
        `${MBps(rate)} = ${(rate / plain).toFixed(2)} × plain UDP (${PIPE_BYTES / MiB} MiB, ${path}, bob connected → last byte at alice ${((lastByte - connected.at) / second).toFixed(2)} s; ` +
        `from bob's spawn ${MBps(got / ((lastByte - t0) / second))}, connected +${Math.round(connected.at - t0)} ms, first byte +${Math.round(firstByte - t0)} ms; SHA-256 ${sha === want ? "matches" : "DIFFERS"})` +
        cpuRow("from connected to exit", transferCpu) +
        (drops0.every((x) => x !== undefined) ? `; dropped by the kernel (receive buffer full, polled): at alice's sockets ${drops[0]! - drops0[0]!}, bob's ${drops[1]! - drops0[1]!} datagrams` : ""),
    ],
  ];
}

async function benchForward(server: string, dir: string, plain: number): Promise<Array<[string, string]>> {
  const sink = await startSink();
  const alice = client(server, ["alice", "--expose", `udp:127.0.0.1:${sink.port}`], join(dir, "alice"));
  await alice.log.waitFor(/registered as alice/, START_DEADLINE, "alice registering");
  const port = await freePort();
  const bob = client(server, ["bob", "alice", "--forward", `udp:${port}`], join(dir, "bob"));
  const connected = await bob.log.waitFor(/connected to alice/, START_DEADLINE, "bob connecting");
  await bob.log.waitFor(/forwarding/, START_DEADLINE, "bob forwarding");
  const cpu0 = [cpuSeconds(bob.p.pid), cpuSeconds(alice.p.pid), cpuSeconds(sink.p.pid), process.cpuUsage()] as const;
  const counts = () => [kernelDrops(bob.p.pid, port), kernelDrops(bob.p.pid), kernelDrops(alice.p.pid), kernelDrops(sink.p.pid)];
  const drops0 = counts();
  const r = await measureBlast(port, sink, FORWARD_BYTES);
  const drops = counts().map((x, i) => (x === undefined || drops0[i] === undefined ? undefined : x - drops0[i]));
  const size = (n: number | undefined) => `${n! > 1000 ? `${Math.round(n! / 1000)}k` : n}`;
  const used = (i: number, pid: number) => (cpu0[i] === undefined ? undefined : cpuSeconds(pid)! - (cpu0[i] as number));
  const me = process.cpuUsage(cpu0[3]);
  const cpu: Array<[string, number | undefined]> = [
    ["bob", used(0, bob.p.pid)],
    ["alice", used(1, alice.p.pid)],
    ["sink", used(2, sink.p.pid)],
    ["blaster", (me.user + me.system) / 1e6],
  ];
  const path = /\((direct|relay)/.exec(connected.text)?.[1] ?? "?";
  const where = drops.every((x) => x !== undefined)
    ? `; dropped by the kernel (receive buffer full): at bob's forward socket ${size(drops[0])}, bob's session socket ${size(drops[1]! - drops[0]!)}, alice's sockets ${size(drops[2])}, the sink ${size(drops[3])}; ` +
      `so not sent by bob's transport (congestion window full), by subtraction: ${size(r.sent - r.received / FORWARD_BYTES - drops[1]! - drops[2]! - drops[3]!)}`
    : "";
  return [
    [
      "throughput: UDP forward (encrypted) on loopback",
      `${MBps(r.rate)} = ${(r.rate / plain).toFixed(2)} × plain UDP, loss ${(r.loss * 100).toFixed(1)} % (${FORWARD_BYTES} B datagrams, ${path}, offered ${MBps(r.offered)} for ${BLAST_SECONDS} s = ${size(r.sent)} datagrams${r.failed ? `, ${r.failed} send errors` : ""}${where})` +
        cpuRow(`over the ${BLAST_SECONDS} s`, cpu),
    ],
  ];
}

export async function benchThroughput(): Promise<Array<[string, string]>> {
  const rows: Array<[string, string]> = [];
  const dir = mkdtempSync(join(tmpdir(), "hp-throughput-"));
  const server = await startServer({ host: "127.0.0.1", port: 0 });
  const size = new Transport({ role: "a", clock: realClock, sendBytes() {} }).maxDatagramBytes;
  if (size < FORWARD_BYTES) throw new Error(`the transport carries datagrams of at most ${size} B, under FORWARD_BYTES = ${FORWARD_BYTES}`);
  try {
    const sink = await startSink();
    const cpu0 = [cpuSeconds(sink.p.pid), process.cpuUsage()] as const;
    const plain = await measureBlast(sink.port, sink, DATAGRAM_BYTES);
    const me = process.cpuUsage(cpu0[1]);
    const sinkCpu = cpu0[0] === undefined ? undefined : cpuSeconds(sink.p.pid)! - cpu0[0];
    sink.p.kill("SIGKILL");
    rows.push([
      "throughput: plain UDP on loopback",
      `${MBps(plain.rate)} (${DATAGRAM_BYTES} B datagrams, sendMany × ${BATCH} from this process to a sink process; offered ${MBps(plain.offered)}, loss ${(plain.loss * 100).toFixed(1)} %${plain.failed ? `, ${plain.failed} send errors` : ""})` +
        cpuRow(`over the ${BLAST_SECONDS} s`, [["sender", (me.user + me.system) / 1e6], ["sink", sinkCpu]]),
    ]);
    const addr = `127.0.0.1:${server.port}`;
    rows.push(...(await benchPipe(addr, dir, plain.rate)));
    await stopAll();
    rows.push(...(await benchForward(addr, dir, plain.rate)));
  } finally {
    await stopAll();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** Ends every child still running: SIGTERM, then SIGKILL after a grace period. */
async function stopAll(): Promise<void> {
  const live = [...children];
  for (const p of live) p.kill("SIGTERM");
  const grace = setTimeout(() => live.forEach((p) => p.kill("SIGKILL")), 2 * second);
  await Promise.all(live.map((p) => p.exited));
  clearTimeout(grace);
}

if (import.meta.main) {
  if (process.argv[2] === "sink") await runSink();
  else {
    process.on("exit", () => children.forEach((p) => p.kill("SIGKILL")));
    const rows = await benchThroughput();
    console.log(["| benchmark | result |", "|---|---|", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n"));
  }
}
