// End-to-end matrix: the compiled hp-server / hp-client through real NATs.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  canRunNatTests,
  type Host,
  Internet,
  type Line,
  type Proc,
  parseAddr,
  SERVER_IP,
  type Site,
  type SiteKind,
} from "./harness.ts";
import { failIfNatTestsRequired } from "./preflight.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SERVER_BIN = join(ROOT, "dist/hp-server");
const CLIENT_BIN = join(ROOT, "dist/hp-client");
const PORT = 39738;
const RENDEZVOUS = `${SERVER_IP}:${PORT}`;
const CONNECT_MS = 20_000;
const MESSAGE_MS = 10_000;

const can = canRunNatTests();
failIfNatTestsRequired(can, test);
if (!can.ok) console.warn(`skipping NAT end-to-end tests: ${can.reason}`);

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
async function ensureBuilt(): Promise<void> {
  const bins = [SERVER_BIN, CLIENT_BIN];
  const fresh = bins.every((b) => existsSync(b) && statSync(b).mtimeMs >= newestMtime(join(ROOT, "src")));
  if (fresh) return;
  const r = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`bun run build failed (exit ${r.exitCode}):\n${r.stdout.toString()}${r.stderr.toString()}`);
  }
}

interface Pair {
  alice: Host;
  bob: Host;
  /** The IP each side should see its peer at once connected directly. */
  aliceSeesBobAt: string;
  bobSeesAliceAt: string;
}

interface Case {
  name: string;
  build: (net: Internet) => Promise<Pair>;
  /** Silence between `connected` and the chat (for NAT-timeout tests). */
  idleMs?: number;
  timeoutMs: number;
}

/** Alice and Bob each behind their own site. */
function apart(aliceKind: SiteKind, bobKind: SiteKind, lossPercent?: number) {
  return async (net: Internet): Promise<Pair> => {
    const opts = (k: SiteKind) => (k === "public" ? {} : { lossPercent });
    const a: Site = await net.addSite(aliceKind, "alice", opts(aliceKind));
    const b: Site = await net.addSite(bobKind, "bob", opts(bobKind));
    return { alice: a.hosts[0]!, bob: b.hosts[0]!, aliceSeesBobAt: b.publicIp, bobSeesAliceAt: a.publicIp };
  };
}

/** Alice and Bob on one LAN behind one NAT that does not hairpin. */
async function together(net: Internet): Promise<Pair> {
  const s = await net.addSite("sameNat", "home");
  const [alice, bob] = [s.hosts[0]!, s.hosts[1]!];
  return { alice, bob, aliceSeesBobAt: bob.ip, bobSeesAliceAt: alice.ip };
}

const cases: Case[] = [
  { name: "cone ↔ cone", build: apart("cone", "cone"), timeoutMs: 70_000 },
  { name: "public ↔ cone", build: apart("public", "cone"), timeoutMs: 70_000 },
  { name: "same NAT, no hairpin", build: together, timeoutMs: 70_000 },
  { name: "dmz ↔ random", build: apart("dmz", "random"), timeoutMs: 70_000 },
  { name: "cone ↔ cone with 10 % loss", build: apart("cone", "cone", 10), timeoutMs: 70_000 },
  { name: "idle 35 s, then chat", build: apart("cone", "cone"), idleMs: 35_000, timeoutMs: 120_000 },
];

/** "198.18.0.2:4000", "[::ffff:198.18.0.2]:4000" -> "198.18.0.2". */
const ipOf = (addr: string) => parseAddr(String(addr)).ip.replace(/^\[|\]$/g, "").replace(/^::ffff:/, "");
const text = (l: Line) => (typeof l === "string" ? l : JSON.stringify(l));

async function startServer(net: Internet): Promise<Proc> {
  const server = net.spawn(net.server.ns, [SERVER_BIN, "--host", "0.0.0.0", "--port", String(PORT)]);
  await server.waitFor((l) => text(l).includes("listening on"), 10_000, { stream: "stderr", what: '"listening on"' });
  return server;
}

/** Each client keeps its identity and known peers in its own config dir, as on its own machine. */
const configRoot = mkdtempSync(join(tmpdir(), "hp-nat-"));
process.on("exit", () => rmSync(configRoot, { recursive: true, force: true }));

function client(net: Internet, host: Host, args: string[]): Proc {
  return net.spawn(host.ns, [CLIENT_BIN, RENDEZVOUS, ...args, "--json"], { env: { XDG_CONFIG_HOME: join(configRoot, host.ns) } });
}

/** Writes a line on one side and waits for the other side's `message` event. */
async function chat(from: Proc, fromName: string, to: Proc): Promise<void> {
  const line = `hi from ${fromName} ${Math.random().toString(36).slice(2, 8)}`;
  from.writeLine(line);
  await to.waitForEvent("message", MESSAGE_MS, { from: fromName, text: line });
}

async function runCase(net: Internet, pair: Pair, c: Case): Promise<void> {
  await startServer(net);

  const alice = client(net, pair.alice, ["alice"]);
  const registered = await alice.waitForEvent("registered", 10_000);
  expect(registered.name).toBe("alice");
  const bob = client(net, pair.bob, ["bob", "alice"]);

  const [aliceConn, bobConn] = await Promise.all([
    alice.waitForEvent("connected", CONNECT_MS, { peer: "bob" }),
    bob.waitForEvent("connected", CONNECT_MS, { peer: "alice" }),
  ]);
  // A direct path: each side talks to the other's NAT (or LAN) address.
  expect(ipOf(aliceConn.address)).toBe(pair.aliceSeesBobAt);
  expect(ipOf(bobConn.address)).toBe(pair.bobSeesAliceAt);

  if (c.idleMs) await Bun.sleep(c.idleMs); // the point of this case: outlive the NATs' 30 s UDP timeout

  await chat(bob, "bob", alice);
  await chat(alice, "alice", bob);
}

/** Runs `body`; on failure appends the output of every process of this internet. */
async function withOutputs(net: Internet, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const outputs = net.processes.map((p) => p.output()).join("\n");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n\n=== all processes ===\n${outputs}`);
  }
}

describe.skipIf(!can.ok)("hole punching through real NATs", () => {
  let net: Internet | undefined;

  beforeAll(ensureBuilt, 180_000);

  afterEach(async () => {
    await net?.destroy();
    net = undefined;
  }, 30_000);

  for (const c of cases) {
    test(c.name, async () => {
      const n = (net = await Internet.create());
      const pair = await c.build(n);
      await withOutputs(n, () => runCase(n, pair, c));
    }, c.timeoutMs);
  }

  test("unknown peer", async () => {
    const n = (net = await Internet.create());
    const site = await n.addSite("cone", "bob");
    await withOutputs(n, async () => {
      await startServer(n);
      const bob = client(n, site.hosts[0]!, ["bob", "carol", "--timeout", "3"]);
      const err = await bob.waitForEvent("error", 10_000, { code: "PEER_UNKNOWN" });
      expect(typeof err.message).toBe("string");
      expect(await bob.waitExit(10_000)).not.toBe(0);
    });
  }, 20_000);
});
