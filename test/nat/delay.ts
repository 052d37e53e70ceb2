// Delayed links for the NAT harness: the kernel here has no netem qdisc, so a
// small C program (delay-link.c) owns two TAP devices, one in each namespace,
// and forwards frames between them after a fixed delay (optionally dropping
// some at random). Compiled with gcc on first use into a cache directory,
// keyed by the source's hash, so an edited source is rebuilt.
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Proc, spawn } from "./proc.ts";

export const DELAY_LINK_SRC = new URL("./delay-link.c", import.meta.url).pathname;
const CACHE_DIR = resolve(import.meta.dir, "../../node_modules/.cache/hole-punch");
const CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"];
const READY_MS = 5_000;
const STOP_MS = 5_000;

/** One end of a link: a TAP device `ifname` in namespace `ns` (null: the current one). */
export interface LinkEnd {
  ns: string | null;
  ifname: string;
}

export interface DelayLinkOptions {
  /** One-way delay, ms, the same in both directions. */
  delayMs: number;
  /** Random loss, percent, in each direction independently. */
  lossPercent?: number;
  /** Seed of the loss generator (default: time and pid). */
  seed?: number;
}

/** Frame counters per direction, [a→b, b→a], from the program's exit line. */
export interface DelayLinkStats {
  forwarded: [number, number];
  lost: [number, number];
  overflow: [number, number];
  write_errors: [number, number];
}

let binary: string | undefined;

/** Compiles delay-link.c (once per source version) and returns the binary's path. */
export function delayLinkBinary(): string {
  if (binary) return binary;
  const hash = Bun.hash(readFileSync(DELAY_LINK_SRC, "utf8") + CFLAGS.join(" ")).toString(16);
  const out = join(CACHE_DIR, `delay-link-${hash}`);
  if (!existsSync(out)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`; // concurrent builders each rename a whole file
    const gcc = Bun.spawnSync(["gcc", ...CFLAGS, "-o", tmp, DELAY_LINK_SRC], { stdout: "pipe", stderr: "pipe" });
    if (gcc.exitCode !== 0) throw new Error(`gcc ${DELAY_LINK_SRC} failed (exit ${gcc.exitCode}):\n${gcc.stderr.toString()}`);
    renameSync(tmp, out);
  }
  return (binary = out);
}

/** The delay-link command line for two ends. */
export function delayLinkArgv(a: LinkEnd, b: LinkEnd, opts: DelayLinkOptions): string[] {
  const end = (e: LinkEnd) => (e.ns === null ? e.ifname : `${e.ns}:${e.ifname}`);
  const argv = [delayLinkBinary(), "--delay-ms", String(opts.delayMs)];
  if (opts.lossPercent) argv.push("--loss", String(opts.lossPercent));
  if (opts.seed !== undefined) argv.push("--seed", String(opts.seed));
  return [...argv, end(a), end(b)];
}

/**
 * Starts a delay link from the root namespace (it enters each end's namespace
 * itself) and resolves once both devices exist, down and without addresses:
 * configure them like the veth pair they stand for. `start` lets a caller
 * track the process (the harness passes its own spawn, so destroy() and the
 * exit hook kill it, and the devices go with it).
 */
export async function startDelayLink(
  a: LinkEnd,
  b: LinkEnd,
  opts: DelayLinkOptions,
  start: (argv: string[]) => Proc = (argv) => spawn(null, argv),
): Promise<Proc> {
  const p = start(delayLinkArgv(a, b, opts));
  await p.waitForEvent("ready", READY_MS);
  return p;
}

/** SIGTERM, then the link's frame counters. */
export async function stopDelayLink(p: Proc): Promise<DelayLinkStats> {
  p.kill("SIGTERM");
  await p.waitExit(STOP_MS);
  const stats = p.lines.find((l) => l?.event === "stats");
  if (!stats) throw new Error(`delay-link printed no stats\n${p.output()}`);
  return stats;
}

let probeSeq = 0;

/**
 * Round-trip times (ms), one probe at a time, from a udp-tool (udp-tool.ts)
 * to an echoing one at `to`. The first `warmup` probes are not counted: over
 * a delayed link the first packet also waits for ARP, one more round trip.
 * Includes the tool's stdin/stdout hops (well under a millisecond each).
 */
export async function udpRoundTrips(tool: Proc, to: string, count: number, warmup = 1, timeoutMs = 5_000): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const tag = `rtt${++probeSeq}`;
    const sentAt = performance.now();
    tool.writeLine(`send ${to} ${tag}`);
    await tool.waitFor((l) => l?.event === "recv" && l.json?.data === tag, timeoutMs, { what: `echo of ${tag} from ${to}` });
    if (i >= warmup) times.push(performance.now() - sentAt);
  }
  return times;
}

/** The median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
