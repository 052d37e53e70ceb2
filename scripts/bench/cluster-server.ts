// The processes of the cluster bench (scripts/bench/cluster.ts): how it
// starts them (rendezvous servers; redis-server is test/support/redis.ts) and reads their CPU time.
// Every one is kept in `children`, for the bench to kill in its finally
// blocks and on ^C.
//
// Run as a program, this file is one server: loopback, no alternate port,
// every rate limit and the per-IP name cap off (the load generator's sockets
// all share 127.0.0.1), optionally one instance of a Redis cluster. It prints
// `listening <port>` on stdout, then one `stats <json>` line (counters, drops,
// registry size) for each `stats` line read on stdin, and exits on
// SIGTERM/SIGINT or when stdin closes (the bench is gone).
//
//   bun scripts/bench/cluster-server.ts [--redis redis://127.0.0.1:6379] [--instance a]
import type { Subprocess } from "bun";
import type { TestRedis } from "../../test/support/redis.ts";
import { readFileSync } from "node:fs";
import { CLK_TCK, cpuSeconds } from "./proc-stats.ts";
import { createLogger } from "../../src/log.ts";
import { startServer } from "../../src/server/udp-server.ts";

const second = 1000;
const HOST = "127.0.0.1";

/** Every process started here, until stopped. */
export const children = new Set<Subprocess>();

export type BenchServer = { p: Subprocess<"pipe", "pipe", "pipe">; port: number; stats(): Promise<Record<string, unknown>> };

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/** This file as a server process; resolves once it listens. */
export async function spawnServer(args: string[]): Promise<BenchServer> {
  const p = Bun.spawn([process.execPath, import.meta.path, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  children.add(p);
  // Its warnings (Redis lost, …) go to our stderr: they belong in the report.
  void (async () => {
    for await (const l of lines(p.stderr)) process.stderr.write(`cluster-server ${args.join(" ")}: ${l}\n`);
  })();
  const out = lines(p.stdout);
  const timeout = Bun.sleep(10 * second).then(() => ({ done: true, value: "" }));
  const first = await Promise.race([out.next(), timeout]);
  const m = /^listening (\d+)/.exec(first.done ? "" : first.value);
  if (!m) throw new Error(`cluster-server ${args.join(" ")} did not start (exit ${p.exitCode})`);
  const waiters: Array<(s: Record<string, unknown>) => void> = [];
  void (async () => {
    for await (const l of out) if (l.startsWith("stats ")) waiters.shift()?.(JSON.parse(l.slice(6)));
  })();
  const stats = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiters.push(resolve);
      p.stdin.write("stats\n");
      p.stdin.flush();
    });
  return { p, port: Number(m[1]), stats };
}

/** CPU seconds so far: the servers (summed), redis-server, this process, and the whole machine (all cores, /proc/stat: all but idle and iowait). */
export function cpuNow(servers: BenchServer[], redis: TestRedis | undefined): { servers: number; redis: number; self: number; machine: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const self = process.cpuUsage();
  return {
    servers: servers.reduce((sum, s) => sum + (cpuSeconds(s.p.pid) ?? NaN), 0),
    redis: redis?.process ? (cpuSeconds(redis.process.pid) ?? NaN) : 0,
    self: (self.user + self.system) / 1e6,
    machine: (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / CLK_TCK,
  };
}

export async function stop(p: Subprocess): Promise<void> {
  p.kill();
  await p.exited;
  children.delete(p);
}

async function serve(): Promise<void> {
  const arg = (flag: string) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] : undefined);
  const server = await startServer({
    host: HOST,
    port: 0,
    altPort: false,
    ratePerSecond: Infinity,
    rateBurst: Infinity,
    ratePerName: Infinity,
    maxPerIp: 1e9,
    // Every registration of the bench is a new name: room for all of one configuration.
    maxClients: 1_000_000,
    redis: arg("--redis"),
    instanceId: arg("--instance"),
    // Warnings only (Redis lost, ...): info would log every registration.
    log: createLogger({ level: "warn", component: arg("--instance") ?? "server" }),
  });
  console.log(`listening ${server.port}`);
  const exit = () => (server.stop(), process.exit(0));
  process.on("SIGTERM", exit);
  process.on("SIGINT", exit);
  const port = server.core.cluster?.port as { malformed?: number; up?: boolean } | undefined;
  for await (const line of lines(Bun.stdin.stream())) {
    if (line.trim() !== "stats") continue;
    console.log(`stats ${JSON.stringify({ ...server.core.stats.snapshot(), registry_size: server.core.registry.size, redis_up: port?.up, redis_malformed: port?.malformed })}`);
  }
  exit();
}

if (import.meta.main) await serve();
