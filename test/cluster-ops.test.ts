// Operating a cluster for real: two hp-server instances sharing a real
// redis-server, real clients; /metrics scraped and parsed, the status page
// rendered by headless Chromium with the counts the clients produced, and an
// instance that dies: its clients move to the other one.
import { describe, expect, test } from "bun:test";
import type { RunningServer } from "../src/server/udp-server.ts";
import { clusterFixture, waitUntil } from "./support/cluster.ts";
import { byId, runChromium } from "./support/chromium.ts";

const fx = clusterFixture({ metrics: { host: "127.0.0.1", port: 0 } });
const { instance } = fx;
const client = (at: RunningServer[], name: string, peer?: string) => fx.client(at, name, { peer });

/** Prometheus text -> "name{labels}" -> value (every sample line; comments checked for shape). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a metrics line: ${line}`);
    if (out.has(m[1]!)) throw new Error(`duplicate series ${m[1]}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(s: RunningServer): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`);
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

describe("cluster operations", () => {
  test("metrics: registrations, requests, punches by path and cluster messages, per instance", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const alice = await client([a], "alice");
    const dave = await client([a], "dave");
    await Promise.all([alice.log.waitEvent("registered"), dave.log.waitEvent("registered")]);
    const bob = await client([b], "bob", "alice");
    await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
    const carol = await client([a], "carol", "dave");
    await Promise.all([dave.log.waitEvent("connected"), carol.log.waitEvent("connected")]);
    // The reports arrive just after connecting: a counts carol's punch, b counts bob's.
    await waitUntil(async () => (await scrape(a)).get('hp_punches_succeeded_total{path="direct"}') === 1, 3000, "a's direct punch counted");
    await waitUntil(async () => (await scrape(b)).get('hp_punches_succeeded_total{path="direct"}') === 1, 3000, "b's direct punch counted");
    const ma = await scrape(a);
    const mb = await scrape(b);
    expect(ma.get("hp_registrations")).toBe(3); // alice, dave, carol
    expect(mb.get("hp_registrations")).toBe(1); // bob
    expect(ma.get("hp_punches_started_total")).toBe(1);
    expect(mb.get("hp_punches_started_total")).toBe(1);
    expect(ma.get("hp_punches_failed_total")).toBe(0);
    expect(ma.get('hp_requests_total{type="register",result="ok"}')).toBe(3);
    expect(mb.get('hp_cluster_messages_total{direction="sent",kind="introduce"}')).toBeGreaterThanOrEqual(1);
    expect(ma.get('hp_cluster_messages_total{direction="received",kind="introduce"}')).toBeGreaterThanOrEqual(1);
    expect(ma.get("hp_cluster_redis_up")).toBe(1);
    expect(ma.get('hp_info{version="0.1.0",instance="a",mode="redis"}') ?? ma.get([...ma.keys()].find((k) => k.startsWith("hp_info{"))!)).toBe(1);
    expect(ma.get("process_resident_memory_bytes")).toBeGreaterThan(1e6);
    const health = await fetch(`http://127.0.0.1:${a.metricsPort}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe("ok");
  }, 20_000);

  test("the status page, in headless Chromium, shows this instance's real counts", async () => {
    const a = await instance("a");
    const alice = await client([a], "alice");
    await alice.log.waitEvent("registered");
    const bob = await client([a], "bob", "alice");
    await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
    await waitUntil(() => a.core.punchTotals.direct === 1, 3000, "the punch counted");
    // A third client only registers: three online, one punch, direct.
    const carol = await client([a], "carol");
    await carol.log.waitEvent("registered");
    const dom = await runChromium(`http://127.0.0.1:${a.metricsPort}/`, ["--dump-dom"]);
    expect(byId(dom, "clients-online").text).toBe("3");
    expect(byId(dom, "punches-started").text).toBe("1");
    expect(byId(dom, "punches-direct").text).toBe("1");
    expect(byId(dom, "punches-relay").text).toBe("0");
    expect(byId(dom, "punches-failed").text).toBe("0");
    expect(byId(dom, "punch-success-rate").text).toBe("100.0%");
    expect(byId(dom, "redis-status").text).toBe("redis up");
  }, 30_000);

  test("an instance dies: its clients register at the other within a keepalive period and stay reachable", async () => {
    // keepaliveMs 1 s: the clients' keepalive period (failover after it plus 3 unanswered resends of 1 s).
    const a = await instance("a", { keepaliveMs: 1000 });
    const b = await instance("b", { keepaliveMs: 1000 });
    const alice = await client([a, b], "alice");
    await alice.log.waitEvent("registered");
    const bob = await client([b, a], "bob", "alice");
    const erin = await client([b, a], "erin"); // idle at b: a newcomer will look for her
    await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected"), erin.log.waitEvent("registered")]);
    const diedAt = performance.now();
    fx.stop(b); // its sockets close: silence, like a crash (Redis still names it)
    await waitUntil(() => a.core.registry.lookup("bob", performance.now()) !== undefined, 10_000, "bob registered at a");
    const movedMs = performance.now() - diedAt;
    console.log(`bob registered at instance a ${Math.round(movedMs)} ms after b died (keepalive 1 s)`);
    expect(movedMs).toBeLessThan(1000 + 3 * 1000 + 1000); // a keepalive period, 3 resends, a registration (generous)
    expect(await fx.redis.send("HGET", ["hp:reg:bob", "inst"])).toBe("a");
    // The direct session never needed b.
    bob.c.client.sendLine("still here");
    await alice.log.waitMessage("still here");
    // A newcomer at a reaches erin, who was b's (a client is busy while connected, so not bob).
    await waitUntil(() => a.core.registry.lookup("erin", performance.now()) !== undefined, 5_000, "erin registered at a");
    const carol = await client([a], "carol", "erin");
    await Promise.all([carol.log.waitEvent("connected", 10_000), erin.log.waitEvent("connected", 10_000)]);
  }, 30_000);
});
