// Shared by the end-to-end NAT tests: the compiled binaries, a server and
// clients inside the topology, chat helpers, pair builders.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { failIfNatTestsRequired } from "./preflight.ts";
import { canRunNatTests, type Host, Internet, type Line, type Proc, parseAddr, SERVER_IP, type Site, type SiteKind } from "./harness.ts";

export const ROOT = resolve(import.meta.dir, "../..");
/**
 * HP_NAT_DIST=<dir> runs prebuilt binaries from elsewhere (say, a build of
 * another checkout) and skips the build; by default dist/ is rebuilt when src/ is newer.
 */
const DIST = process.env.HP_NAT_DIST ? resolve(process.env.HP_NAT_DIST) : join(ROOT, "dist");
export const SERVER_BIN = join(DIST, "hp-server");
export const CLIENT_BIN = join(DIST, "hp-client");
export const PORT = 39738;
export const RENDEZVOUS = `${SERVER_IP}:${PORT}`;
/** How a relayed peer's address reads in `connected` events. */
export const RELAY_ADDRESS = `relay:${RENDEZVOUS}`;
export const CONNECT_MS = 20_000;
export const MESSAGE_MS = 10_000;

/** Newest modification time of any file below `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Runs `bun run build` unless both binaries exist and are newer than everything in src/. */
export async function ensureBuilt(): Promise<void> {
  if (process.env.HP_NAT_DIST) {
    for (const b of [SERVER_BIN, CLIENT_BIN]) if (!existsSync(b)) throw new Error(`HP_NAT_DIST: ${b} does not exist`);
    return;
  }
  const bins = [SERVER_BIN, CLIENT_BIN];
  const fresh = bins.every((b) => existsSync(b) && statSync(b).mtimeMs >= newestMtime(join(ROOT, "src")));
  if (fresh) return;
  const r = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`bun run build failed (exit ${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`);
  }
}

export interface Pair {
  alice: Host;
  bob: Host;
  aliceSite: Site;
  bobSite: Site;
  /** The IP each side should see its peer at once connected directly. */
  aliceSeesBobAt: string;
  bobSeesAliceAt: string;
}

/** Alice and Bob each behind their own site. */
export function apart(aliceKind: SiteKind, bobKind: SiteKind, lossPercent?: number) {
  return async (net: Internet): Promise<Pair> => {
    const opts = (k: SiteKind) => (k === "public" ? {} : { lossPercent });
    const a = await net.addSite(aliceKind, "alice", opts(aliceKind));
    const b = await net.addSite(bobKind, "bob", opts(bobKind));
    return { alice: a.hosts[0]!, bob: b.hosts[0]!, aliceSite: a, bobSite: b, aliceSeesBobAt: b.publicIp, bobSeesAliceAt: a.publicIp };
  };
}

/** Alice and Bob on one LAN behind one NAT that does not hairpin. */
export async function together(net: Internet): Promise<Pair> {
  const s = await net.addSite("sameNat", "home");
  const [alice, bob] = [s.hosts[0]!, s.hosts[1]!];
  return { alice, bob, aliceSite: s, bobSite: s, aliceSeesBobAt: bob.ip, bobSeesAliceAt: alice.ip };
}

/** "198.18.0.2:4000", "[::ffff:198.18.0.2]:4000" -> "198.18.0.2". */
export const ipOf = (addr: string) => parseAddr(String(addr)).ip.replace(/^\[|\]$/g, "").replace(/^::ffff:/, "");
export const text = (l: Line) => (typeof l === "string" ? l : JSON.stringify(l));

/** Starts hp-server (JSON logs on stderr) on the server host and waits until it listens. */
export async function startServer(net: Internet, extra: string[] = []): Promise<Proc> {
  const argv = [SERVER_BIN, "--host", "0.0.0.0", "--port", String(PORT), "--log-format", "json", ...extra];
  const server = net.spawn(net.server.ns, argv);
  await server.waitFor((l) => text(l).includes("listening on"), 10_000, { stream: "stderr", what: '"listening on"' });
  return server;
}

/** SIGTERM to the server; resolves with its "shutting down" log line (its counters). */
export async function stopServer(server: Proc): Promise<Record<string, unknown>> {
  server.kill("SIGTERM");
  expect(await server.waitExit(5_000)).toBe(0);
  const line = server.errLines.find((l) => typeof l === "object" && l?.msg === "shutting down");
  if (!line) throw new Error(`no "shutting down" line\n${server.output()}`);
  return line;
}

/** Each client keeps its identity and known peers in its own config dir, as on its own machine. */
const configRoot = mkdtempSync(join(tmpdir(), "hp-nat-"));
process.on("exit", () => rmSync(configRoot, { recursive: true, force: true }));

/** The config dir (identity, known peers, address tokens) the clients on `host` use. */
export const clientConfigDir = (host: Host) => join(configRoot, host.ns, "hole-punch");

/** hp-client in a host's namespace through sh, so stdin/stdout can be files (`redirect`, e.g. "< in > out"). */
export function shellClient(net: Internet, host: Host, args: string, redirect: string): Proc {
  const env = { XDG_CONFIG_HOME: join(configRoot, host.ns) };
  return net.spawn(host.ns, ["sh", "-c", `exec ${CLIENT_BIN} ${RENDEZVOUS} ${args} --log-format json ${redirect}`], { env });
}

export function client(net: Internet, host: Host, args: string[]): Proc {
  return net.spawn(host.ns, [CLIENT_BIN, RENDEZVOUS, ...args, "--json"], { env: { XDG_CONFIG_HOME: join(configRoot, host.ns) } });
}

/** Writes a line on one side and waits for the other side's `message` event. */
export async function chat(from: Proc, fromName: string, to: Proc, timeoutMs = MESSAGE_MS): Promise<void> {
  const line = `hi from ${fromName} ${Math.random().toString(36).slice(2, 8)}`;
  from.writeLine(line);
  await to.waitForEvent("message", timeoutMs, { from: fromName, text: line });
}

/** The texts of the `message` events a client printed from `from`, in order. */
export function received(p: Proc, from: string): string[] {
  return p.lines.filter((l) => l?.event === "message" && l.from === from).map((l) => String(l.text));
}

/** Waits until `p` has printed at least `n` messages from `from`. */
export async function waitReceived(p: Proc, from: string, n: number, timeoutMs: number): Promise<string[]> {
  await p.waitFor(() => received(p, from).length >= n, timeoutMs, { what: `${n} messages from ${from}` });
  return received(p, from);
}

/** Registers alice (listening), then starts bob connecting to her; `bobArgs` are extra flags for bob. */
export async function startPair(net: Internet, pair: Pair, bobArgs: string[] = []): Promise<{ alice: Proc; bob: Proc; bobStartedAt: number }> {
  const alice = client(net, pair.alice, ["alice"]);
  const registered = await alice.waitForEvent("registered", 10_000);
  expect(registered.name).toBe("alice");
  const bobStartedAt = performance.now();
  const bob = client(net, pair.bob, ["bob", "alice", ...bobArgs]);
  return { alice, bob, bobStartedAt };
}

/** Both sides' `connected` events. */
export function bothConnected(alice: Proc, bob: Proc, timeoutMs = CONNECT_MS): Promise<[Line, Line]> {
  return Promise.all([
    alice.waitForEvent("connected", timeoutMs, { peer: "bob" }),
    bob.waitForEvent("connected", timeoutMs, { peer: "alice" }),
  ]);
}

/** Runs `body`; on failure appends the output of every process of this internet. */
export async function withOutputs(net: Internet, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const outputs = net.processes.map((p) => p.output()).join("\n");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n\n=== all processes ===\n${outputs}`);
  }
}

const can = canRunNatTests();
failIfNatTestsRequired(can, test);

/**
 * A describe block of real-NAT tests: skipped with a printed reason where
 * namespaces cannot be made (failed instead when HP_REQUIRE_NAT_TESTS is
 * set), binaries built once, and `fresh()` giving each test (or run) its
 * own internet, torn down after the test or by `release()`.
 */
export function natDescribe(name: string, body: (fresh: () => Promise<Internet>, release: () => Promise<void>) => void): void {
  if (!can.ok) console.warn(`skipping "${name}": ${can.reason}`);
  describe.skipIf(!can.ok)(name, () => {
    let net: Internet | undefined;
    const release = async () => {
      await net?.destroy();
      net = undefined;
    };
    const fresh = async () => {
      await release();
      return (net = await Internet.create());
    };
    beforeAll(ensureBuilt, 180_000);
    afterEach(release, 30_000);
    body(fresh, release);
  });
}
