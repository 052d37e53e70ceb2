// Time to connect through real NATs over links with delay: the compiled
// hp-server and hp-clients in the namespace harness (test/nat/), each site's
// link to the public segment delayed by DELAY_MS one way (delay-link.c).
// From bob's spawn to both sides' `connected` events, as e2e.ts's
// startPair/bothConnected measure it, median and p90 of RUNS runs, in ms and
// in units of the ideal: one request/response to the server plus one peer
// round trip, RTT(bob↔server) + RTT(alice↔bob), from round trips measured
// with udp-tool on the same topology. Also bob's phases (from its JSON logs
// and events), and the same pair without delay: the fixed cost of starting a
// process. Needs root, ip and nft (else one "skipped" row) and gcc.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { delayLinkBinary, median, udpRoundTrips } from "../../test/nat/delay.ts";
import { canRunNatTests, type Host, Internet, type Proc, SERVER_IP, type SiteKind } from "../../test/nat/harness.ts";

const DELAY_MS = 20;
const RUNS = 10;
const RTT_PROBES = 5;
const ALICE_ECHO_PORT = 7100;
const BOB_PROBE_PORT = 7200;
const ECHO_PORT = 7001;
const WAIT_MS = 20_000;

interface Topology {
  name: string;
  alice: SiteKind;
  bob: SiteKind;
  delayMs: number;
  /** Bob starts without the address token of its last run (a first start: the cookie round trip). */
  firstStart?: boolean;
}

const TOPOLOGIES: Topology[] = [
  { name: "cone ↔ cone", alice: "cone", bob: "cone", delayMs: DELAY_MS },
  { name: "cone ↔ cone, first start (no address token)", alice: "cone", bob: "cone", delayMs: DELAY_MS, firstStart: true },
  { name: "public ↔ cone", alice: "public", bob: "cone", delayMs: DELAY_MS },
  { name: "cone ↔ cone", alice: "cone", bob: "cone", delayMs: 0 },
];

/** Milliseconds after bob's spawn. */
interface Run {
  /** bob's hello is out (its "registering as" log line: process started, socket bound). */
  started: number;
  registered: number;
  /** bob got the server's HolePunchInitiate and starts probing (its "punching" log line). */
  punching: number;
  alicePunching: number;
  bobConnected: number;
  aliceConnected: number;
  both: number;
}

interface Rtts {
  bobServer: number;
  aliceServer: number;
  aliceBob: number;
}

type E2e = typeof import("../../test/nat/e2e.ts");

export async function benchConnectNat(): Promise<Array<[string, string]>> {
  const can = canRunNatTests();
  if (!can.ok) return [["connect through delayed NATs", `skipped: ${can.reason}`]];
  // Loaded only where the NAT tests can run (with HP_REQUIRE_NAT_TESTS set, e2e.ts would register a failing test).
  const e2e = await import("../../test/nat/e2e.ts");
  await e2e.ensureBuilt();
  delayLinkBinary(); // a compile error shows before any namespace exists
  const rows: Array<[string, string]> = [];
  for (const t of TOPOLOGIES) {
    const net = await Internet.create();
    try {
      const a = await net.addSite(t.alice, "alice", { delayMs: t.delayMs });
      const b = await net.addSite(t.bob, "bob", { delayMs: t.delayMs });
      await e2e.startServer(net);
      const rtts = await measureRtts(net, a.hosts[0]!, b.hosts[0]!, a.publicIp);
      await connectOnce(net, e2e, a.hosts[0]!, b.hosts[0]!); // warm-up: first use creates identities, caches pages
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) {
        if (t.firstStart) rmSync(join(e2e.clientConfigDir(b.hosts[0]!), "address-tokens.json"), { force: true });
        runs.push(await connectOnce(net, e2e, a.hosts[0]!, b.hosts[0]!));
      }
      rows.push(...report(t, rtts, runs));
    } finally {
      await net.destroy();
    }
  }
  return rows;
}

/** Round trips bob↔server, alice↔server and alice↔bob, with udp-tool echoes (medians). */
async function measureRtts(net: Internet, alice: Host, bob: Host, alicePublicIp: string): Promise<Rtts> {
  const tool = async (ns: string, args: string[]) => {
    const p = net.udpTool(ns, args);
    await p.waitForEvent("bound", 5_000);
    return p;
  };
  const server = `${SERVER_IP}:${ECHO_PORT}`;
  const tools: Proc[] = [await tool(net.server.ns, ["--port", String(ECHO_PORT), "--echo"])];
  try {
    const bobProbe = await tool(bob.ns, ["--port", String(BOB_PROBE_PORT)]);
    const aliceProbe = await tool(alice.ns, []);
    const aliceEcho = await tool(alice.ns, ["--port", String(ALICE_ECHO_PORT), "--echo"]);
    tools.push(bobProbe, aliceProbe, aliceEcho);
    const bobServer = median(await udpRoundTrips(bobProbe, server, RTT_PROBES));
    const aliceServer = median(await udpRoundTrips(aliceProbe, server, RTT_PROBES));
    // A hole by hand: alice's echo sends once to bob's mapping (bob's NAT drops
    // it, alice's NAT now lets bob in), then bob probes alice's mapping (the
    // same port: the cone NAT preserves it).
    const bobMapped = bobProbe.lines.find((l) => l?.event === "recv" && l.json?.observed)?.json.observed as string;
    aliceEcho.writeLine(`send ${bobMapped} open`);
    await Bun.sleep(DELAY_MS * 4); // out through alice's NAT well before bob's first probe arrives
    const aliceBob = median(await udpRoundTrips(bobProbe, `${alicePublicIp}:${ALICE_ECHO_PORT}`, RTT_PROBES));
    return { bobServer, aliceServer, aliceBob };
  } finally {
    for (const p of tools) p.kill();
  }
}

/** Alice registers; bob starts and connects; both stop. Times from bob's spawn. */
async function connectOnce(net: Internet, e2e: E2e, aliceHost: Host, bobHost: Host): Promise<Run> {
  const alice = e2e.client(net, aliceHost, ["alice", "--log-format", "json"]);
  let bob: Proc | undefined;
  try {
    await alice.waitForEvent("registered", WAIT_MS);
    const t0 = performance.now();
    bob = e2e.client(net, bobHost, ["bob", "alice", "--log-format", "json"]);
    const at = (p: Promise<unknown>) => p.then(() => performance.now() - t0);
    const log = (p: Proc, msg: (m: string) => boolean) =>
      at(p.waitFor((l) => typeof l?.msg === "string" && msg(l.msg), WAIT_MS, { stream: "stderr", what: "log line" }));
    const [started, registered, punching, alicePunching, bobConnected, aliceConnected] = await Promise.all([
      log(bob, (m) => m.startsWith("registering as")),
      at(bob.waitForEvent("registered", WAIT_MS)),
      log(bob, (m) => m === "punching"),
      log(alice, (m) => m === "punching"),
      at(bob.waitForEvent("connected", WAIT_MS, { peer: "alice", path: "direct" })),
      at(alice.waitForEvent("connected", WAIT_MS, { peer: "bob", path: "direct" })),
    ]);
    return { started, registered, punching, alicePunching, bobConnected, aliceConnected, both: Math.max(bobConnected, aliceConnected) };
  } finally {
    for (const p of [alice, bob]) p?.kill("SIGTERM");
    await Promise.all([alice, bob].map((p) => p?.waitExit(5_000)));
  }
}

function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function report(t: Topology, r: Rtts, runs: Run[]): Array<[string, string]> {
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const med = (k: keyof Run) => quantile(runs.map((x) => x[k]), 0.5);
  const both = runs.map((x) => x.both);
  const [p50, p90] = [quantile(both, 0.5), quantile(both, 0.9)];
  const title = `connect via NATs, ${t.name}, ${t.delayMs ? `${t.delayMs} ms one-way per site link` : "no added delay"}`;
  const rttBs = (v: number) => (t.delayMs ? ` (${(v / r.bobServer).toFixed(1)} RTT after hello)` : "");
  const phases =
    `hello out +${ms(med("started"))}, registered +${ms(med("registered"))}${rttBs(med("registered") - med("started"))}, ` +
    `punching +${ms(med("punching"))}${rttBs(med("punching") - med("started"))}, alice punching +${ms(med("alicePunching"))}, ` +
    `bob connected +${ms(med("bobConnected"))}, alice connected +${ms(med("aliceConnected"))}`;
  const phasesRow: [string, string] = [`${title}: phases from bob's start (medians${t.delayMs ? "; RTT = bob↔server" : ""})`, phases];
  if (!t.delayMs) {
    return [[`${title} (bob start → both connected)`, `median ${ms(p50)}, p90 ${ms(p90)} (${runs.length} runs)`], phasesRow];
  }
  const ideal = r.bobServer + r.aliceBob;
  const x = (v: number) => `${(v / ideal).toFixed(2)}×`;
  const onWire = quantile(runs.map((x) => x.both - x.started), 0.5); // without the process start
  return [
    [`${title}: path RTTs (udp-tool, median of ${RTT_PROBES})`, `bob↔server ${r.bobServer.toFixed(1)} ms, alice↔server ${r.aliceServer.toFixed(1)} ms, alice↔bob ${r.aliceBob.toFixed(1)} ms`],
    [
      `${title} (bob start → both connected)`,
      `median ${ms(p50)} = ${x(p50)} ideal, p90 ${ms(p90)} = ${x(p90)} (${runs.length} runs); from bob's hello: median ${ms(onWire)} = ${x(onWire)}; ` +
        `ideal = RTT(bob↔server) + RTT(alice↔bob) = ${ms(ideal)}`,
    ],
    phasesRow,
  ];
}

if (import.meta.main) {
  for (const [k, v] of await benchConnectNat()) console.log(`| ${k} | ${v} |`);
}
