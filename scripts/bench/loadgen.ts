// Builds scripts/bench/loadgen.c with gcc (cached by source hash under
// node_modules/.cache/hole-punch) and runs it: the closed-loop STUN load
// generator and its echo server. Children are tracked so the bench can kill
// them all on error or ^C. Standalone: `bun scripts/bench/loadgen.ts stun --port P`.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const second = 1000;
const SOURCE = join(import.meta.dir, "loadgen.c");
const CACHE_DIR = join(import.meta.dir, "../../node_modules/.cache/hole-punch");
/** Time a child may take beyond its planned run before it is killed. */
const GRACE = 10 * second;

/** One JSON line from `loadgen stun`: counts over the measured window. */
export interface LoadResult {
  sent: number;
  received: number;
  lost: number;
  /** Replies that are not STUN success responses. */
  bad: number;
  /** Well-formed responses to no outstanding request (late, duplicated). */
  unmatched: number;
  /** Matched replies without our XOR-MAPPED-ADDRESS, or with a bad FINGERPRINT. */
  bad_attrs: number;
  send_errors: number;
  refused: number;
  seconds: number;
  rps: number;
  /** CPU seconds the generator used in the window. */
  gen_cpu: number;
  /** CPU seconds `cpuPid` used in the window; -1 without one. */
  peer_cpu: number;
  /** CPU seconds other processes used on the generator's core in the window; -1 if unknown. */
  gen_core_other: number;
  /** CPU seconds other processes used on `peerCore` in the window; -1 if unknown. */
  peer_core_other: number;
}

export interface LoadOptions {
  port: number;
  /** IPv4 literal (default 127.0.0.1). */
  host?: string;
  seconds: number;
  warmup: number;
  /** Client sockets (default 64). */
  sockets?: number;
  /** Requests in flight per socket (default 8). */
  inflight?: number;
  /** A request unanswered this long is lost and re-issued (default 200). */
  timeoutMs?: number;
  /** Send SOFTWARE + FINGERPRINT instead of a bare 20-byte request. */
  fingerprint?: boolean;
  /** Accept the request echoed back as the reply (for the echo server). */
  echo?: boolean;
  /** Process whose CPU time to measure over the window. */
  cpuPid?: number;
  /** The core cpuPid is pinned to, to measure what else ran there. */
  peerCore?: number;
  /** Pin the generator to this core with taskset. */
  core?: number;
}

const live = new Set<Subprocess>();

/** Spawns a child that killChildren() will find. */
export function spawnTracked(argv: string[], opts: { stdout?: "pipe" | "ignore"; stderr?: "pipe" | "ignore" } = {}) {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: opts.stdout ?? "pipe", stderr: opts.stderr ?? "pipe" });
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p;
}

/** Kills every child still running (synchronous: safe in an exit handler). */
export function killChildren(): void {
  for (const p of live) p.kill("SIGKILL");
}

/** `taskset -c core argv…`, or argv as is without a core. */
export const pinned = (core: number | undefined, argv: string[]): string[] =>
  core === undefined ? argv : ["taskset", "-c", String(core), ...argv];

/** Rejects with `what` if p does not settle within ms. */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Compiles loadgen.c once per source version (removing older builds); returns the binary's path. */
export async function buildLoadgen(): Promise<string> {
  const src = await Bun.file(SOURCE).text();
  const bin = join(CACHE_DIR, `loadgen-${Bun.hash(src).toString(16)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const cc = Bun.spawnSync(["gcc", "-O2", "-Wall", "-Wextra", "-o", tmp, SOURCE], { stderr: "pipe" });
  const diagnostics = cc.stderr.toString().trim();
  if (!cc.success) throw new Error(`gcc could not build loadgen.c:\n${diagnostics}`);
  if (diagnostics) process.stderr.write(`loadgen.c: gcc warnings:\n${diagnostics}\n`);
  for (const old of readdirSync(CACHE_DIR)) if (old.startsWith("loadgen-") && !old.endsWith(".tmp")) rmSync(join(CACHE_DIR, old), { force: true });
  renameSync(tmp, bin);
  return bin;
}

/** Runs one closed-loop STUN load and returns its counts. */
export async function runLoadgen(bin: string, o: LoadOptions): Promise<LoadResult> {
  const argv = [bin, "stun", "--host", o.host ?? "127.0.0.1", "--port", String(o.port), "--seconds", String(o.seconds)];
  argv.push("--warmup", String(o.warmup), "--sockets", String(o.sockets ?? 64), "--inflight", String(o.inflight ?? 8));
  argv.push("--timeout-ms", String(o.timeoutMs ?? 200));
  if (o.fingerprint) argv.push("--fingerprint");
  if (o.echo) argv.push("--echo");
  if (o.cpuPid !== undefined) argv.push("--cpu-pid", String(o.cpuPid));
  if (o.peerCore !== undefined) argv.push("--peer-core", String(o.peerCore));
  const p = spawnTracked(pinned(o.core, argv));
  try {
    const [out, err, code] = await deadline(
      Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]),
      (o.seconds + o.warmup) * second + GRACE,
      "loadgen",
    );
    if (code !== 0) throw new Error(`loadgen exited with ${code}: ${err.trim()}`);
    return JSON.parse(out.trim().split("\n").pop()!) as LoadResult;
  } finally {
    p.kill("SIGKILL");
  }
}

/** Starts `loadgen echo-server` on 127.0.0.1 and a free port; `spin` busy-polls (a core at 100 %). */
export async function startEchoServer(bin: string, o: { core?: number; spin?: boolean } = {}): Promise<{ proc: Subprocess; port: number }> {
  const argv = [bin, "echo-server", "--host", "127.0.0.1", "--port", "0", ...(o.spin ? ["--spin"] : [])];
  const proc = spawnTracked(pinned(o.core, argv));
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  try {
    await deadline(
      (async () => {
        while (!text.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) throw new Error("loadgen echo-server exited before listening");
          text += new TextDecoder().decode(value);
        }
      })(),
      5 * second,
      "loadgen echo-server",
    );
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  reader.releaseLock();
  return { proc, port: (JSON.parse(text) as { port: number }).port };
}

if (import.meta.main) {
  const bin = await buildLoadgen();
  const p = Bun.spawn([bin, ...process.argv.slice(2)], { stdio: ["inherit", "inherit", "inherit"] });
  process.exit(await p.exited);
}
