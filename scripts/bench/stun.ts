// STUN Binding requests/s on one core: hp-server beside coturn, in one run,
// driven by the same compiled load generator (loadgen.c), plus that
// generator's own ceiling against a busy-polling C echo server. The server
// under test is pinned to core 0 and the generator to core 1. The targets take
// turns (echo, coturn, ours, echo, coturn, ours…) and each figure is the
// median of its rounds. A run during which other processes used more than
// MAX_OTHER_LOAD of either core is repeated (up to ATTEMPTS times) and, if it
// never gets a quiet window, flagged. CPU µs per reply comes from the server's
// /proc/<pid>/stat over the measured window, so it does not depend on the
// generator's speed. Standalone: `bun scripts/bench/stun.ts`.
import { rmSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { buildLoadgen, deadline, killChildren, pinned, runLoadgen, spawnTracked, startEchoServer, type LoadResult } from "./loadgen.ts";

const second = 1000;
const SERVER_CORE = 0;
const GENERATOR_CORE = 1;
const ROUNDS = 2;
const SECONDS = 5;
const WARMUP_SECONDS = 1;
const SOCKETS = 64;
const IN_FLIGHT = 8;
/** Share of a core other processes may use during a run before it counts as disturbed. */
const MAX_OTHER_LOAD = 0.05;
const ATTEMPTS = 3;
/** How long a started server may take to answer its first Binding request. */
const READY_TIMEOUT = 5 * second;
/** How long our server gets to answer STUN once it says it is listening. */
const STUN_PROBE_TIMEOUT = 1.5 * second;
const MAGIC = 0x2112a442;

/** coturn as a bare STUN server: no config file, no auth, no TCP/TLS/DTLS, no CLI, one relay thread.
 * The three flags after -m 1 are what Debian's stock /etc/turnserver.conf sets. */
const coturnArgv = (port: number | string, pidFile: string) => [
  "turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp",
  "--listening-ip", "127.0.0.1", "--listening-port", String(port), "-m", "1",
  "--no-rfc5780", "--no-stun-backward-compatibility", "--response-origin-only-with-rfc5780",
  "--log-file", "stdout", "--simple-log", "--pidfile", pidFile,
]; // prettier-ignore

const oursArgv = () => [
  process.execPath, join(import.meta.dir, "../../src/cli/server.ts"),
  "--host", "127.0.0.1", "--port", "0", "--alt-port", "off", "--rate", "0",
]; // prettier-ignore

interface Server {
  proc: Subprocess;
  port: number;
}

/** Something to measure: started afresh for each run, stopped after it. */
interface Target {
  row: string;
  start: () => Promise<Server>;
  /** The echo server sends requests back as they are. */
  echo?: boolean;
  runs: LoadResult[];
  /** Why it has no figures (it is not run again once this is set). */
  problem?: string;
}

/** Keeps reading a child's output (a full pipe would block it); calls onText with the tail so far. */
function drain(stream: ReadableStream<Uint8Array>, onText?: (tail: string) => void): () => string {
  let tail = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      const text = dec.decode(chunk);
      tail = (tail + text).slice(-4096);
      if (process.env.HP_BENCH_DEBUG) process.stderr.write(text);
      onText?.(tail);
    }
  })().catch(() => {});
  return () => tail;
}

async function freeUdpPort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = s.port;
  s.close();
  return port;
}

/** True once `port` answers a bare Binding request with a success response, false after ms. */
async function answersStun(port: number, ms: number): Promise<boolean> {
  let answered = false;
  const s = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, buf) {
        const b = new Uint8Array(buf);
        if (b.length >= 20 && b[0] === 0x01 && b[1] === 0x01) answered = true;
      },
      error() {},
    },
  });
  try {
    const req = new Uint8Array(20);
    const view = new DataView(req.buffer);
    view.setUint16(0, 0x0001);
    view.setUint32(4, MAGIC);
    for (const t0 = performance.now(); !answered && performance.now() - t0 < ms; await Bun.sleep(50)) {
      crypto.getRandomValues(req.subarray(8));
      s.send(req, port, "127.0.0.1");
    }
    return answered;
  } finally {
    s.close();
  }
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGKILL");
  await proc.exited;
}

async function startCoturn(pidFile: string): Promise<Server> {
  const port = await freeUdpPort();
  const proc = spawnTracked(pinned(SERVER_CORE, coturnArgv(port, pidFile)));
  const log = drain(proc.stdout as ReadableStream<Uint8Array>);
  drain(proc.stderr as ReadableStream<Uint8Array>);
  if (!(await answersStun(port, READY_TIMEOUT))) {
    await stop(proc);
    throw new Error(`coturn did not answer STUN on 127.0.0.1:${port}: ${log().trim().split("\n").pop()}`);
  }
  return { proc, port };
}

/** Starts hp-server (port from its "listening on" line) and checks that it answers STUN. */
async function startOurs(): Promise<Server> {
  const proc = spawnTracked(pinned(SERVER_CORE, oursArgv()));
  drain(proc.stdout as ReadableStream<Uint8Array>);
  let onListening: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => (onListening = resolve));
  const log = drain(proc.stderr as ReadableStream<Uint8Array>, (tail) => {
    const m = /listening on \S*:(\d+)/.exec(tail);
    if (m) onListening(Number(m[1]));
  });
  try {
    const exited = proc.exited.then((code) => Promise.reject(new Error(`did not start (exit ${code}): ${log().trim().split("\n").pop()}`)));
    const port = await deadline(Promise.race([listening, exited]), READY_TIMEOUT, "hp-server start");
    if (!(await answersStun(port, STUN_PROBE_TIMEOUT))) throw new Error("no STUN replies");
    return { proc, port };
  } catch (e) {
    await stop(proc);
    throw e;
  }
}

/** Share of a core that other processes took during a run (the worse of the two cores). */
const otherLoad = (r: LoadResult) => Math.max(r.gen_core_other, r.peer_core_other, 0) / r.seconds;

/** One load run against a fresh server; repeated while other processes disturb it. */
async function measure(bin: string, t: Target): Promise<LoadResult> {
  let best: LoadResult | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const s = await t.start();
    let r: LoadResult;
    try {
      r = await runLoadgen(bin, {
        port: s.port,
        cpuPid: s.proc.pid,
        peerCore: SERVER_CORE,
        core: GENERATOR_CORE,
        echo: t.echo,
        seconds: SECONDS,
        warmup: WARMUP_SECONDS,
        sockets: SOCKETS,
        inflight: IN_FLIGHT,
      });
    } finally {
      await stop(s.proc);
    }
    if (!best || otherLoad(r) < otherLoad(best)) best = r;
    if (otherLoad(r) <= MAX_OTHER_LOAD) break;
    process.stderr.write(`bench: ${t.row}: other processes took ${Math.round(otherLoad(r) * 100)} % of a core${attempt < ATTEMPTS ? ", again" : ""}\n`);
  }
  return best!;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const k = (rps: number) => `${Math.round(rps / 1000)}k`;

/** One row: median replies/s, server CPU per reply, generator load, anything lost, wrong or disturbed. */
function describe(t: Target): string {
  const runs = t.runs;
  const gen = median(runs.map((r) => r.gen_cpu / r.seconds));
  const sum = (f: (r: LoadResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  const disturbed = Math.max(...runs.map(otherLoad));
  const parts = [
    `${k(median(runs.map((r) => r.rps)))} replies/s (runs: ${runs.map((r) => k(r.rps)).join(", ")})`,
    t.echo ? "" : `server ${median(runs.map((r) => (r.peer_cpu * 1e6) / r.received)).toFixed(1)} µs CPU/reply`,
    `generator at ${Math.round(gen * 100)} % of a core${!t.echo && gen > 0.95 ? " (generator-bound: a floor)" : ""}`,
    sum((r) => r.lost) ? `${sum((r) => r.lost)} lost` : "",
    sum((r) => r.bad) ? `${sum((r) => r.bad)} not success responses` : "",
    sum((r) => r.unmatched) ? `${sum((r) => r.unmatched)} late or unmatched` : "",
    sum((r) => r.bad_attrs) ? `${sum((r) => r.bad_attrs)} without our XOR-MAPPED-ADDRESS or with a bad FINGERPRINT` : "",
    disturbed > MAX_OTHER_LOAD ? `DISTURBED: other processes took up to ${Math.round(disturbed * 100)} % of a core` : "",
  ];
  return parts.filter(Boolean).join("; ");
}

function versions(): string {
  const run = (argv: string[]) => Bun.spawnSync(argv, { stderr: "pipe" }).stdout.toString().trim().split("\n")[0];
  return `coturn ${run(["turnserver", "--version"])}, gcc ${run(["gcc", "-dumpfullversion"])}, Linux ${release()}`;
}

export async function benchStun(): Promise<Array<[string, string]>> {
  const missing = ["gcc", "taskset", "turnserver"].filter((t) => !Bun.which(t));
  if (missing.includes("gcc") || missing.includes("taskset") || navigator.hardwareConcurrency < 2) {
    process.stderr.write(`bench: stun: skipped: needs gcc, taskset and 2 cores (missing: ${missing.join(", ") || "a second core"})\n`);
    return [];
  }
  const haveCoturn = !missing.includes("turnserver");
  if (!haveCoturn) process.stderr.write("bench: stun: turnserver not found (apt-get install coturn): no coturn row\n");
  const onSignal = () => {
    killChildren();
    process.exit(130);
  };
  process.on("exit", killChildren);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const pidFile = join(tmpdir(), `hole-punch-bench-coturn-${process.pid}.pid`);
  try {
    const bin = await buildLoadgen();
    const echo: Target = { row: "stun: loadgen ceiling (busy-polling C echo server)", echo: true, runs: [], start: () => startEchoServer(bin, { core: SERVER_CORE, spin: true }) };
    const coturn: Target = { row: "stun: coturn Binding (1 core)", runs: [], start: () => startCoturn(pidFile) };
    const ours: Target = { row: "stun: hp-server Binding (1 core)", runs: [], start: startOurs };
    const targets = haveCoturn ? [echo, coturn, ours] : [echo, ours];
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets.filter((t) => !t.problem)) {
        try {
          const r = await measure(bin, t);
          if (r.received === 0) t.problem = "no STUN replies under load";
          else t.runs.push(r);
        } catch (e) {
          t.problem = (e as Error).message;
        }
      }
    }

    const rows: Array<[string, string]> = [
      ["stun: setup", `${versions()}; ${SOCKETS} sockets × ${IN_FLIGHT} bare 20 B Binding requests in flight; server on core ${SERVER_CORE}, generator on core ${GENERATOR_CORE}; ${ROUNDS} rounds of ${SECONDS} s after ${WARMUP_SECONDS} s warmup, targets alternating`],
    ];
    if (haveCoturn) rows.push(["stun: coturn command", `\`taskset -c ${SERVER_CORE} ${coturnArgv("PORT", "PIDFILE").join(" ")}\``]);
    for (const t of targets) rows.push([t.row, t.problem ?? describe(t)]);
    if (haveCoturn && !coturn.problem && !ours.problem) {
      const ratio = median(ours.runs.map((r) => r.rps)) / median(coturn.runs.map((r) => r.rps));
      rows.push(["stun: hp-server / coturn replies/s", `${ratio.toFixed(2)}×`]);
    }
    return rows;
  } finally {
    killChildren();
    rmSync(pidFile, { force: true });
    process.off("exit", killChildren);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  const rows = await benchStun();
  console.log(["| benchmark | result |", "|---|---|", ...rows.map(([name, v]) => `| ${name} | ${v} |`)].join("\n"));
}
