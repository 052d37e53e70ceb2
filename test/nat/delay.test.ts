// The harness's delayed links (delay.ts, delay-link.c): the delay is real,
// adds up along a path, is absent without the option, the link's own loss
// works, and destroy() leaves nothing behind. Bounds are generous: a round
// trip can never beat 2 × the delay, but a loaded machine may add a lot.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DelayLinkStats, median, startDelayLink, stopDelayLink, udpRoundTrips } from "./delay.ts";
import { canRunNatTests, exec, Internet, type Proc, SERVER_IP, type Site } from "./harness.ts";
import { failIfNatTestsRequired } from "./preflight.ts";

const can = canRunNatTests();
failIfNatTestsRequired(can, test);
if (!can.ok) console.warn(`skipping delay-link tests: ${can.reason}`);

const T = 5_000;
const SLACK_MS = 50; // what a busy machine may add to a round trip
const PROBES = 5;

/** Starts the UDP tool and waits until its socket is bound. */
async function udp(net: Internet, ns: string, args: string[] = []): Promise<Proc> {
  const p = net.udpTool(ns, args);
  await p.waitForEvent("bound", T);
  return p;
}

/** Every round trip is at least `oneWayMs` there and back, and the median is not much more. */
function expectRoundTrips(times: number[], oneWayMs: number, what: string): void {
  console.log(`${what}: round trips ${times.map((t) => t.toFixed(1)).join(", ")} ms (≥ ${2 * oneWayMs} expected)`);
  for (const t of times) expect(t).toBeGreaterThanOrEqual(2 * oneWayMs);
  expect(median(times)).toBeLessThan(2 * oneWayMs + SLACK_MS);
}

describe.skipIf(!can.ok)("delay links", () => {
  const SLOW_MS = 25;
  const PUB_MS = 15;
  let net: Internet;
  let slow: Site, fast: Site, pub: Site;

  beforeAll(async () => {
    net = await Internet.create();
    slow = await net.addSite("cone", "slow", { delayMs: SLOW_MS });
    fast = await net.addSite("cone", "fast");
    pub = await net.addSite("public", "pub", { delayMs: PUB_MS });
    await udp(net, net.server.ns, ["--port", "7001", "--echo"]);
    await udp(net, pub.hosts[0]!.ns, ["--port", "7001", "--echo"]);
  }, 30_000);

  afterAll(async () => {
    await net?.destroy();
  }, 30_000);

  test("a NAT site's delayMs shows in its round trip to the server; a site without it stays fast", async () => {
    const s = await udp(net, slow.hosts[0]!.ns);
    expectRoundTrips(await udpRoundTrips(s, `${SERVER_IP}:7001`, PROBES), SLOW_MS, "slow cone ↔ server");
    const f = await udp(net, fast.hosts[0]!.ns);
    const fastTimes = await udpRoundTrips(f, `${SERVER_IP}:7001`, PROBES);
    console.log(`fast cone ↔ server: round trips ${fastTimes.map((t) => t.toFixed(1)).join(", ")} ms`);
    expect(median(fastTimes)).toBeLessThan(SLOW_MS);
  }, 15_000);

  test("delays add up along a path: public host ↔ server, and NAT site ↔ public host (two delayed links)", async () => {
    const p = await udp(net, pub.hosts[0]!.ns);
    expectRoundTrips(await udpRoundTrips(p, `${SERVER_IP}:7001`, PROBES), PUB_MS, "public ↔ server");
    const s = await udp(net, slow.hosts[0]!.ns);
    expectRoundTrips(await udpRoundTrips(s, `${pub.publicIp}:7001`, PROBES), SLOW_MS + PUB_MS, "slow cone ↔ public");
  }, 15_000);

  test("the delay link's own loss option drops a plausible share of frames", async () => {
    // A second link, 10.99.0.0/24, between the server and the public host.
    const [a, b] = [net.server.ns, pub.hosts[0]!.ns];
    const link = await startDelayLink({ ns: a, ifname: "lossy" }, { ns: b, ifname: "lossy" }, { delayMs: 1, lossPercent: 30, seed: 42 });
    let stats: DelayLinkStats;
    try {
      for (const [ns, ip] of [[a, "10.99.0.1"], [b, "10.99.0.2"]] as const) {
        await exec(ns, ["ip", "addr", "add", `${ip}/24`, "dev", "lossy"], { check: true });
        await exec(ns, ["ip", "link", "set", "lossy", "up"], { check: true });
      }
      const p = await udp(net, b);
      p.writeLine("burst 10.99.0.1:7001 200 lossy");
      const done = await p.waitForEvent("burst-done", 20_000, { tag: "lossy" });
      expect(done.finEchoed).toBe(true);
      stats = await stopDelayLink(link);
    } finally {
      link.kill("SIGKILL"); // a no-op once stopped; its devices go with it
    }
    console.log(`30 % link loss: ${JSON.stringify(stats)}`);
    const toServer = stats.forwarded[1] + stats.lost[1];
    expect(toServer).toBeGreaterThanOrEqual(200);
    // Binomial(≥ 200, 0.3): sd ≤ 3.3 points; the bounds are more than 4 sd away.
    expect(stats.lost[1] / toServer).toBeGreaterThan(0.15);
    expect(stats.lost[1] / toServer).toBeLessThan(0.45);
    expect(stats.lost[0]).toBeGreaterThan(0); // the echoes lose their share too
    expect(stats.overflow).toEqual([0, 0]);
  }, 30_000);

  test("a TAP device keeps working after it moves to another namespace", async () => {
    // Not how the harness wires links (the program enters each namespace
    // itself), but the fact behind the alternative: the fd follows the device.
    const tag = `hd${process.pid % 100_000}`;
    const link = await startDelayLink({ ns: null, ifname: `${tag}a` }, { ns: null, ifname: `${tag}b` }, { delayMs: 10 });
    const ends = [[net.server.ns, `${tag}a`, "10.98.0.1"], [pub.hosts[0]!.ns, `${tag}b`, "10.98.0.2"]] as const;
    try {
      for (const [ns, dev, ip] of ends) {
        await exec(null, ["ip", "link", "set", dev, "netns", ns], { check: true });
        await exec(ns, ["ip", "addr", "add", `${ip}/24`, "dev", dev], { check: true });
        await exec(ns, ["ip", "link", "set", dev, "up"], { check: true });
      }
      const p = await udp(net, pub.hosts[0]!.ns);
      expectRoundTrips(await udpRoundTrips(p, "10.98.0.1:7001", PROBES), 10, "moved TAP pair");
      await stopDelayLink(link);
    } finally {
      link.kill("SIGKILL");
    }
    // The devices were not persistent: they left with the process.
    for (const [ns, dev] of ends) expect((await exec(ns, ["ip", "link", "show", dev])).code).not.toBe(0);
  }, 15_000);
});

describe.skipIf(!can.ok)("delay links: teardown, and the server's link", () => {
  test("destroy() kills every delay link and leaves no device or namespace behind", async () => {
    const linksBefore = (await exec(null, ["ip", "-o", "link"])).stdout;
    const net = await Internet.create({ serverDelayMs: 5 });
    await net.addSite("double", "x", { delayMs: 5 });
    await net.addSite("public", "y", { delayMs: 5 });
    const links = net.processes.filter((p) => p.argv[0]?.includes("delay-link"));
    expect(links.length).toBe(3); // server, carrier WAN, public host
    const names = [...net.namespaceNames];
    await net.destroy();
    for (const p of links) expect(p.exitCode).not.toBeNull();
    const left = (await exec(null, ["ip", "netns", "list"])).stdout;
    for (const ns of names) expect(left).not.toContain(ns);
    expect((await exec(null, ["ip", "-o", "link"])).stdout.split("\n").length).toBe(linksBefore.split("\n").length);
  }, 20_000);

  test("a delay link ends when its stdin closes (its parent died), and its devices go with it", async () => {
    const tag = `hd${process.pid % 100_000}`;
    const link = await startDelayLink({ ns: null, ifname: `${tag}c` }, { ns: null, ifname: `${tag}d` }, { delayMs: 1 });
    try {
      expect((await exec(null, ["ip", "link", "show", `${tag}c`])).code).toBe(0);
      link.endInput();
      expect(await link.waitExit(T)).toBe(0);
      expect(link.lines.some((l) => l?.event === "stats")).toBe(true);
      expect((await exec(null, ["ip", "link", "show", `${tag}c`])).code).not.toBe(0);
    } finally {
      link.kill("SIGKILL");
    }
  }, 10_000);

  test("with serverDelayMs, every path to the server carries the server link's delay too", async () => {
    const net = await Internet.create({ serverDelayMs: 10 });
    try {
      const site = await net.addSite("double", "dbl", { delayMs: 20 }); // the carrier's WAN link is the delayed one
      await udp(net, net.server.ns, ["--port", "7001", "--echo"]);
      const p = await udp(net, site.hosts[0]!.ns);
      expectRoundTrips(await udpRoundTrips(p, `${SERVER_IP}:7001`, PROBES), 30, "double NAT ↔ delayed server");
    } finally {
      await net.destroy();
    }
  }, 20_000);
});
