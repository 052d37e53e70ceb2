// Self-tests of the namespace harness: each NAT kind behaves as claimed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  blockDirect,
  canRunNatTests,
  exec,
  flushConntrack,
  Internet,
  type Line,
  type Proc,
  parseAddr,
  readSysctl,
  SERVER_IP,
  type Site,
  unblock,
} from "./harness.ts";
import { failIfNatTestsRequired } from "./preflight.ts";

const can = canRunNatTests();
failIfNatTestsRequired(can, test);
if (!can.ok) console.warn(`skipping NAT harness tests: ${can.reason}`);

const T = 5_000; // per-event timeout: everything here is local and fast
const QUIET_MS = 400; // window in which a dropped packet would have shown up

const isRecv = (data: string) => (l: Line) => l?.event === "recv" && l.data === data;

/** Starts the UDP tool and waits until its socket is bound. */
async function udp(net: Internet, ns: string, args: string[] = []): Promise<{ p: Proc; port: number }> {
  const p = net.udpTool(ns, args);
  const bound = await p.waitForEvent("bound", T);
  return { p, port: bound.port };
}

let probeSeq = 0;
/** Sends a probe to an echo server and returns the source address it observed. */
async function observed(p: Proc, to: string): Promise<string> {
  const tag = `probe${++probeSeq}`;
  p.writeLine(`send ${to} ${tag}`);
  const reply = await p.waitFor((l) => l?.event === "recv" && l.json?.data === tag, T);
  return reply.json.observed;
}

describe.skipIf(!can.ok)("NAT harness", () => {
  let net: Internet;
  let pub: Site, cone: Site, random: Site, dmz: Site, same: Site, lossy: Site, double: Site;
  let echoA: Proc, echoB: Proc, echoC: Proc; // server:7001, server:7002, pub:7001
  const echoes = () => [`${SERVER_IP}:7001`, `${SERVER_IP}:7002`, `${pub.publicIp}:7001`];

  beforeAll(async () => {
    net = await Internet.create();
    pub = await net.addSite("public", "pub");
    cone = await net.addSite("cone", "cone");
    random = await net.addSite("random", "rand");
    dmz = await net.addSite("dmz", "dmz");
    same = await net.addSite("sameNat", "same");
    lossy = await net.addSite("cone", "lossy", { lossPercent: 30 });
    double = await net.addSite("double", "dbl");
    echoA = (await udp(net, net.server.ns, ["--port", "7001", "--echo"])).p;
    echoB = (await udp(net, net.server.ns, ["--port", "7002", "--echo"])).p;
    echoC = (await udp(net, pub.hosts[0]!.ns, ["--port", "7001", "--echo"])).p;
  }, 30_000);

  afterAll(async () => {
    await net?.destroy();
  }, 30_000);

  test("public host is seen with its own address", async () => {
    const { p, port } = await udp(net, pub.hosts[0]!.ns);
    expect(await observed(p, `${SERVER_IP}:7001`)).toBe(`${pub.publicIp}:${port}`);
  }, 10_000);

  test("cone: one public ip:port for every destination (endpoint-independent mapping)", async () => {
    const { p } = await udp(net, cone.hosts[0]!.ns);
    const seen = [];
    for (const to of echoes()) seen.push(await observed(p, to));
    expect(new Set(seen).size).toBe(1);
    expect(parseAddr(seen[0]!).ip).toBe(cone.publicIp);
  }, 10_000);

  test("random: a different public port per destination (endpoint-dependent mapping)", async () => {
    const { p } = await udp(net, random.hosts[0]!.ns);
    const seen = [];
    for (const to of echoes()) seen.push(await observed(p, to));
    console.log(`random NAT mappings for one socket: ${seen.join(", ")}`);
    for (const a of seen) expect(parseAddr(a).ip).toBe(random.publicIp);
    // Three random ports out of ~64k: all equal is (practically) impossible.
    expect(new Set(seen.map((a) => parseAddr(a).port)).size).toBeGreaterThan(1);
  }, 10_000);

  test("cone: unsolicited packets do not reach the LAN host (port-restricted filtering)", async () => {
    const { p, port } = await udp(net, cone.hosts[0]!.ns, ["--port", "5000"]);
    const mapped = await observed(p, `${SERVER_IP}:7001`); // opens a mapping towards server:7001 only
    expect(port).toBe(5000);
    echoC.writeLine(`send ${mapped} from-other-host`); // other public host
    echoB.writeLine(`send ${mapped} from-other-port`); // same host, other port
    echoC.writeLine(`send ${cone.publicIp}:5999 no-mapping`); // a port nobody mapped
    echoA.writeLine(`send ${mapped} from-contacted-port`); // positive control
    await p.waitFor(isRecv("from-contacted-port"), T);
    await p.expectNoLine((l) => l?.event === "recv" && String(l.data).startsWith("from-other"), QUIET_MS);
    await p.expectNoLine(isRecv("no-mapping"), 1);
  }, 10_000);

  test("dmz: unsolicited packets reach the host (full cone)", async () => {
    const { p } = await udp(net, dmz.hosts[0]!.ns, ["--port", "6000"]);
    echoC.writeLine(`send ${dmz.publicIp}:6000 hello-from-pub`);
    echoB.writeLine(`send ${dmz.publicIp}:6000 hello-from-server`);
    const a = await p.waitFor(isRecv("hello-from-pub"), T);
    const b = await p.waitFor(isRecv("hello-from-server"), T);
    expect(a.from).toBe(`${pub.publicIp}:7001`);
    expect(b.from).toBe(`${SERVER_IP}:7002`);
    // And outbound it is an ordinary NAT.
    const { p: q } = await udp(net, dmz.hosts[0]!.ns);
    expect(parseAddr(await observed(q, `${SERVER_IP}:7001`)).ip).toBe(dmz.publicIp);
  }, 10_000);

  test("sameNat: peers reach each other by LAN address, not via the public address (no hairpin)", async () => {
    const [h1, h2] = same.hosts as [typeof same.hosts[0], typeof same.hosts[0]];
    const a = await udp(net, h1.ns);
    const b = await udp(net, h2.ns);
    const bMapped = await observed(b.p, `${SERVER_IP}:7001`);
    expect(parseAddr(bMapped).ip).toBe(same.publicIp);
    a.p.writeLine(`send ${bMapped} via-public`);
    a.p.writeLine(`send ${h2.ip}:${b.port} via-lan`);
    const got = await b.p.waitFor(isRecv("via-lan"), T);
    expect(got.from).toBe(`${h1.ip}:${a.port}`);
    await b.p.expectNoLine(isRecv("via-public"), QUIET_MS);
  }, 10_000);

  test("30 % loss on the NAT router drops a plausible share in both directions", async () => {
    const { p } = await udp(net, lossy.hosts[0]!.ns);
    p.writeLine(`burst ${SERVER_IP}:7001 200 loss`);
    const done = await p.waitForEvent("burst-done", 20_000, { tag: "loss" });
    await echoA.waitFor(isRecv("loss:fin"), T); // the echo server has printed every survivor by now
    const arrived = echoA.lines.filter((l) => l?.event === "recv" && /^loss:\d+$/.test(l.data)).length;
    console.log(`30 % loss: ${arrived}/200 arrived, ${done.replies}/${arrived} echoes came back`);
    expect(done.finEchoed).toBe(true);
    // Binomial(200, 0.7): mean 140, sd 6.5; bounds are more than 6 sd away.
    expect(arrived).toBeGreaterThanOrEqual(90);
    expect(arrived).toBeLessThanOrEqual(180);
    // The return path loses its own ~30 % of what arrived.
    expect(done.replies).toBeGreaterThanOrEqual(Math.floor(arrived * 0.45));
    expect(done.replies).toBeLessThanOrEqual(Math.ceil(arrived * 0.9));
  }, 30_000);

  test("double: seen with the CGNAT's public ip and a different port per destination (random-port carrier)", async () => {
    const [carrier, home] = double.routers as [NonNullable<Site["router"]>, NonNullable<Site["router"]>];
    expect(double.publicIp).toBe(carrier.wanIp);
    expect(double.router).toBe(home);
    expect(home.wanIp).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./); // inside 100.64.0.0/10
    const { p, port } = await udp(net, double.hosts[0]!.ns);
    const seen = [];
    for (const to of echoes()) seen.push(await observed(p, to));
    console.log(`double NAT mappings for one socket (local port ${port}): ${seen.join(", ")}`);
    for (const a of seen) expect(parseAddr(a).ip).toBe(carrier.wanIp);
    expect(new Set(seen.map((a) => parseAddr(a).port)).size).toBe(seen.length);
    // Both routers drop unsolicited inbound: a third party aimed at the mapping
    // the first echo server saw gets nothing through.
    echoC.writeLine(`send ${seen[0]} dbl-unsolicited`);
    echoA.writeLine(`send ${seen[0]} dbl-answer`); // positive control: the contacted echo
    await p.waitFor(isRecv("dbl-answer"), T);
    await p.expectNoLine(isRecv("dbl-unsolicited"), QUIET_MS);
  }, 10_000);

  test("double: neither router forwards unsolicited packets routed straight at the LAN host", async () => {
    const [carrier, home] = double.routers as [NonNullable<Site["router"]>, NonNullable<Site["router"]>];
    const host = double.hosts[0]!;
    const lan = host.ip.replace(/\.\d+$/, ".0/24");
    const { p } = await udp(net, host.ns, ["--port", "5100"]);
    await observed(p, `${SERVER_IP}:7001`); // the host has live mappings through both NATs
    // Routes no real network would offer, so only the routers' filters stand in the way.
    await exec(carrier.ns, ["ip", "route", "add", lan, "via", home.wanIp], { check: true });
    await exec(pub.hosts[0]!.ns, ["ip", "route", "add", lan, "via", carrier.wanIp], { check: true });
    try {
      const { p: inside } = await udp(net, carrier.ns);
      inside.writeLine(`send ${host.ip}:5100 from-carrier-lan`); // stopped by the home router
      echoC.writeLine(`send ${host.ip}:5100 from-public-routed`); // stopped by the carrier
      await p.expectNoLine((l) => l?.event === "recv" && /^from-/.test(l.data), QUIET_MS);
    } finally {
      await exec(carrier.ns, ["ip", "route", "del", lan]);
      await exec(pub.hosts[0]!.ns, ["ip", "route", "del", lan]);
    }
  }, 10_000);

  test("blockDirect drops UDP between a site and one public ip until unblocked; others still pass", async () => {
    const { p } = await udp(net, cone.hosts[0]!.ns);
    const pubEcho = `${pub.publicIp}:7001`;
    await observed(p, pubEcho); // works before
    const block = await blockDirect(cone, pub.publicIp);
    try {
      p.writeLine(`send ${pubEcho} while-blocked`);
      await observed(p, `${SERVER_IP}:7001`); // the server is still reachable
      await p.expectNoLine((l) => l?.json?.data === "while-blocked", QUIET_MS);
      expect(echoC.lines.some(isRecv("while-blocked"))).toBe(false);
    } finally {
      await unblock(block);
    }
    await observed(p, pubEcho); // and works again
    await unblock(block); // idempotent
  }, 10_000);

  test("blockDirect on a public site blocks on the public bridge, between that host and the ip", async () => {
    const { p } = await udp(net, pub.hosts[0]!.ns);
    const block = await blockDirect(pub, SERVER_IP);
    p.writeLine(`send ${SERVER_IP}:7001 pub-blocked`);
    await p.expectNoLine((l) => l?.json?.data === "pub-blocked", QUIET_MS);
    await block.remove();
    await observed(p, `${SERVER_IP}:7001`);
  }, 10_000);

  test("flushConntrack forgets a site's NAT mappings: the hole closes until the host sends again", async () => {
    for (const site of [cone, double]) {
      const { p } = await udp(net, site.hosts[0]!.ns);
      const mapped = await observed(p, `${SERVER_IP}:7002`);
      echoB.writeLine(`send ${mapped} through-hole-${site.name}`);
      await p.waitFor(isRecv(`through-hole-${site.name}`), T);
      const held = await flushConntrack(site);
      expect(Object.keys(held)).toEqual(site.routers.map((r) => r.ns));
      for (const n of Object.values(held)) expect(n).toBeGreaterThan(0);
      echoB.writeLine(`send ${mapped} after-flush-${site.name}`);
      await p.expectNoLine(isRecv(`after-flush-${site.name}`), QUIET_MS);
      // Sending again makes a new mapping (the cone keeps its port; the carrier picks a new one).
      const again = await observed(p, `${SERVER_IP}:7002`);
      expect(parseAddr(again).ip).toBe(site.publicIp);
      console.log(`${site.kind} mapping before/after conntrack -F: ${mapped} -> ${again}`);
      if (site.kind === "cone") expect(again).toBe(mapped);
    }
  }, 10_000);

  test("conntrack UDP timeouts are 30 s inside NAT routers, and per namespace", async () => {
    for (const ns of [cone, random, dmz, same, lossy, double].flatMap((s) => s.routers.map((r) => r.ns))) {
      expect(await readSysctl(ns, "net.netfilter.nf_conntrack_udp_timeout")).toBe("30");
      expect(await readSysctl(ns, "net.netfilter.nf_conntrack_udp_timeout_stream")).toBe("30");
    }
    // The internet namespace was never touched: it keeps the kernel default (120),
    // which shows the setting did not leak across namespaces.
    expect(await readSysctl(net.inetNs, "net.netfilter.nf_conntrack_udp_timeout_stream")).not.toBe("30");
  }, 10_000);
});

describe.skipIf(!can.ok)("NAT harness cleanup", () => {
  test("destroy() removes every namespace and leaves no veth behind", async () => {
    const linksBefore = (await exec(null, ["ip", "-o", "link"])).stdout.split("\n").length;
    const net = await Internet.create();
    await net.addSite("sameNat", "x");
    const p = net.udpTool(net.server.ns, ["--port", "7001"]);
    await p.waitForEvent("bound", T);
    await net.addSite("double", "y");
    const names = [...net.namespaceNames];
    expect(names.length).toBe(8); // inet, server, router, two hosts; carrier, home router, host
    await net.destroy();
    const left = (await exec(null, ["ip", "netns", "list"])).stdout;
    for (const ns of names) expect(left).not.toContain(ns);
    expect(p.exitCode).not.toBeNull();
    const linksAfter = (await exec(null, ["ip", "-o", "link"])).stdout.split("\n").length;
    expect(linksAfter).toBe(linksBefore);
  }, 20_000);
});
