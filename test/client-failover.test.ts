// Several rendezvous servers: the client talks to one at a time and moves to
// the next when it stops answering, in simulated time (two Rendezvous cores on
// two addresses of the in-memory internet). Also the server list's parsing,
// in the library and on hp-client's command line.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connected, messages, SERVER, world } from "./support/sim-world.ts";
import { SimNet } from "./support/sim-net.ts";
import { HolePunchClient, type ClientEvent } from "../src/client/client.ts";
import { startClient, type RunningClient } from "../src/client/udp-client.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import { EventLog } from "./support/events.ts";
import { resolveAll } from "../src/net/resolve.ts";
import { parseServerList, ServerList, usableFrom } from "../src/client/server-list.ts";
import { answerAltPort } from "../src/server/alt-port.ts";
import { Rendezvous } from "../src/server/rendezvous.ts";
import { classify, decodePacket } from "../src/protocol/packet.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { formatAddr, sameAddr, type Addr } from "../src/net/address.ts";
import type { Logger } from "../src/log.ts";
import { memoryTokens } from "../src/client/address-tokens.ts";
import { DEFAULT_PORT, KEEPALIVE_ACK_WAIT, KEEPALIVE_INTERVAL, REGISTER_FAILOVER_WAIT, second } from "../src/constants.ts";

const S2: Addr = { ip: "198.18.0.2", port: 39738 };
const NOBODY: Addr = { ip: "198.18.0.3", port: 39738 };
/** One registration at a server the client has no address token for: hello/Challenge + Register/RegisterAck, 5 ms each way. */
const REGISTRATION_RTTS_MS = 2 * 10;

/** The simulated world with a second, independent server at S2 (its own registry, like an instance that just took over). */
function twoServers(serverOpts: Parameters<typeof world>[2] = {}) {
  const w = world(0, 3, serverOpts);
  let s2: Rendezvous;
  const send = w.net.bind(S2, (b, from) => s2.handle(b, from));
  s2 = new Rendezvous({ send, now: () => w.net.clock.now(), ...serverOpts });
  const alt = { ip: S2.ip, port: S2.port + 1 };
  const sendAlt = w.net.bind(alt, (b, from) => {
    const v = answerAltPort(b, from, alt.port);
    if ("reply" in v) sendAlt(v.reply, from);
  });
  s2.altPort = alt.port;
  // What crosses the wire, and a switch that silences server 1 (both its ports, both ways).
  const seen: Array<{ at: number; from: Addr; to: Addr; body: string }> = [];
  let s1Dead = false;
  w.net.tap = (b, from, to) => {
    if (classify(b) === "hp") {
      try {
        seen.push({ at: w.net.clock.now(), from, to, body: decodePacket(b).body.case ?? "" });
      } catch {}
    }
    return s1Dead && (from.ip === SERVER.ip || to.ip === SERVER.ip) ? null : b;
  };
  return { ...w, s2: () => s2, seen, killS1: () => (s1Dead = true) };
}

/** A logger that keeps warnings (with the simulated time). */
function warnings(clock: { now(): number }) {
  const lines: Array<{ at: number; msg: string }> = [];
  const log: Logger = { debug() {}, info() {}, warn: (msg) => void lines.push({ at: clock.now(), msg }), error() {} };
  return { log, lines };
}

const registeredAt = (c: HolePunchClient, server: Addr) => c.server.isRegistered && sameAddr(c.servers.current, server);

describe("failover between rendezvous servers (simulated)", () => {
  test("server 1 goes silent: registered at server 2 within KEEPALIVE_INTERVAL + 3 × KEEPALIVE_ACK_WAIT + one registration", () => {
    const w = twoServers();
    const { log, lines } = warnings(w.net.clock);
    const tokens = memoryTokens();
    const alice = w.peer("alice", "cone", undefined, undefined, undefined, undefined, { server: [SERVER, S2], log, addressTokens: tokens });
    w.net.clock.advance(1 * second);
    expect(registeredAt(alice.client, SERVER)).toBe(true);
    const tokenKey = (s: Addr) => `${formatAddr(s)} ${w.identities.get("alice")!.id}`;
    expect([tokens.get(tokenKey(SERVER)) !== undefined, tokens.get(tokenKey(S2)) !== undefined]).toEqual([true, false]);
    // The worst moment for the server to die: just after it answered a keepalive.
    const acks = () => w.seen.filter((p) => p.body === "keepaliveAck").length;
    const before = acks();
    while (acks() === before) w.net.clock.advance(1);
    w.killS1();
    const t0 = w.net.clock.now();
    while (!registeredAt(alice.client, S2) && w.net.clock.now() - t0 < 20 * second) w.net.clock.advance(1);
    const took = w.net.clock.now() - t0;
    console.log(`simulated failover: server 1 silent at t0; registered at server 2 after ${took} ms (bound ${KEEPALIVE_INTERVAL + 3 * KEEPALIVE_ACK_WAIT + REGISTRATION_RTTS_MS} ms)`);
    expect(took).toBeLessThanOrEqual(KEEPALIVE_INTERVAL + 3 * KEEPALIVE_ACK_WAIT + REGISTRATION_RTTS_MS);
    expect(w.s2().registry.lookup("alice", w.net.clock.now())).toBeDefined();
    // The periodic keepalive and its two resends went unanswered, a second apart; then one warn line.
    const lost = w.seen.filter((p) => p.at >= t0 && p.body === "keepalive" && sameAddr(p.to, SERVER)).map((p) => p.at);
    expect(lost).toHaveLength(3);
    expect([lost[1]! - lost[0]!, lost[2]! - lost[1]!]).toEqual([KEEPALIVE_ACK_WAIT, KEEPALIVE_ACK_WAIT]);
    expect(lines.map((l) => l.msg)).toEqual([`rendezvous server ${formatAddr(SERVER)} is not answering: moving to ${formatAddr(S2)}`]);
    expect(lines[0]!.at - lost[0]!).toBe(3 * KEEPALIVE_ACK_WAIT);
    // Registered there from scratch (a hello: no address token for server 2), and kept alive there.
    expect(w.seen.some((p) => p.at > t0 && p.body === "challenge" && sameAddr(p.from, S2))).toBe(true);
    expect(alice.events.filter((e) => e.event === "registered")).toHaveLength(1); // "registered again" is only logged
    expect(tokens.get(tokenKey(S2))).toBeDefined(); // address tokens are kept per server
    w.net.clock.advance(30 * second);
    expect(registeredAt(alice.client, S2)).toBe(true);
    expect(lines).toHaveLength(1);
  });

  test("a slow server (1.4 s round trips) is not a dead one: an ack to any keepalive of the run counts", () => {
    const w = twoServers();
    const { log, lines } = warnings(w.net.clock);
    const alice = w.peer("alice", "cone", undefined, undefined, undefined, undefined, { server: [SERVER, S2], log });
    w.net.clock.advance(1 * second);
    w.net.latencyMs = 700;
    w.net.clock.advance(60.5 * second);
    expect(lines).toEqual([]);
    expect(registeredAt(alice.client, SERVER)).toBe(true);
    // Each of the 6 periodic keepalives was resent once (its ack takes longer than KEEPALIVE_ACK_WAIT), never a third time.
    const sent = w.seen.filter((p) => p.at > 1 * second && p.body === "keepalive").map((p) => p.at);
    expect(sent).toHaveLength(12);
    for (let i = 0; i < 12; i += 2) expect(sent[i + 1]! - sent[i]!).toBe(KEEPALIVE_ACK_WAIT);
  });

  test("one server: the same timing as before (a keepalive per interval, no resends, registering again after 3 silent intervals)", () => {
    const w = twoServers();
    const { log, lines } = warnings(w.net.clock);
    const alice = w.peer("alice", "cone", undefined, undefined, undefined, undefined, { log });
    w.net.clock.advance(1 * second);
    const acks = () => w.seen.filter((p) => p.body === "keepaliveAck").length;
    const before = acks();
    while (acks() === before) w.net.clock.advance(1);
    w.killS1();
    const t0 = w.net.clock.now();
    w.net.clock.advance(45 * second);
    const toServer = w.seen.filter((p) => p.at >= t0 && sameAddr(p.to, SERVER));
    const keepalives = toServer.filter((p) => p.body === "keepalive").map((p) => p.at);
    const firstRegister = toServer.find((p) => p.body === "register")!.at;
    expect(keepalives).toHaveLength(3);
    expect([keepalives[1]! - keepalives[0]!, keepalives[2]! - keepalives[1]!, firstRegister - keepalives[2]!]).toEqual([
      KEEPALIVE_INTERVAL,
      KEEPALIVE_INTERVAL,
      KEEPALIVE_INTERVAL,
    ]);
    expect(w.seen.some((p) => sameAddr(p.to, S2))).toBe(false);
    expect(alice.client.servers.current).toEqual(SERVER);
    expect(lines.map((l) => l.msg)).toEqual(["server is not answering keepalives: registering again"]);
  });

  test("the first server never answers: registered at the second after REGISTER_FAILOVER_WAIT", () => {
    const w = twoServers();
    const { log, lines } = warnings(w.net.clock);
    const alice = w.peer("alice", "cone", undefined, undefined, undefined, undefined, { server: [NOBODY, S2], log });
    let at: number | undefined;
    for (let t = 0; t < 10_000 && at === undefined; t++) {
      w.net.clock.advance(1);
      if (alice.events.some((e) => e.event === "registered")) at = w.net.clock.now();
    }
    expect(at).toBe(REGISTER_FAILOVER_WAIT + REGISTRATION_RTTS_MS);
    expect(alice.client.servers.current).toEqual(S2);
    expect(lines.map((l) => l.msg)).toEqual([`rendezvous server ${formatAddr(NOBODY)} is not answering: moving to ${formatAddr(S2)}`]);
    // Hellos went to the silent one first: 250 ms, doubling, within its 3 s.
    expect(w.seen.filter((p) => p.body === "register" && sameAddr(p.to, NOBODY)).map((p) => p.at)).toEqual([0, 250, 750, 1750]);
  });

  test("no server answers: SERVER_UNREACHABLE after REGISTER_TIMEOUT over all of them, each tried in turn", () => {
    const net = new SimNet();
    const events: ClientEvent[] = [];
    const sent: Addr[] = [];
    let exit: number | undefined;
    const send = net.bind({ ip: "198.18.0.5", port: 5000 }, () => {});
    const other: Addr = { ip: "198.18.0.98", port: 39738 };
    const c = new HolePunchClient({
      server: [NOBODY, other],
      name: "bob",
      identity: generateIdentity(),
      clock: net.clock,
      send: (b, to) => (sent.push(to), send(b, to)),
      onEvent: (e) => events.push(e),
      onDone: (code) => (exit = code),
    });
    c.start();
    net.clock.advance(9_999);
    expect(events).toEqual([]);
    net.clock.advance(2);
    expect(events).toEqual([{ event: "error", code: "SERVER_UNREACHABLE", message: "no answer from any of the 2 servers after 10 s" }]);
    expect(exit).toBe(3);
    expect(sent.some((a) => sameAddr(a, NOBODY)) && sent.some((a) => sameAddr(a, other))).toBe(true);
  });

  test("a direct session carries on across the failover; nothing is lost", () => {
    const w = twoServers();
    const both = { server: [SERVER, S2] };
    const alice = w.peer("alice", "cone", undefined, undefined, undefined, undefined, both);
    const bob = w.peer("bob", "cone", "alice", undefined, undefined, undefined, both);
    w.net.clock.advance(3 * second);
    expect(connected(bob)).toMatchObject({ path: "direct" });
    w.killS1();
    for (let i = 0; i < 20; i++) {
      bob.client.sendLine(`b${i}`);
      alice.client.sendLine(`a${i}`);
      w.net.clock.advance(1 * second);
    }
    expect(registeredAt(alice.client, S2) && registeredAt(bob.client, S2)).toBe(true);
    expect(messages(alice)).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
    expect(messages(bob)).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`));
    expect([...alice.events, ...bob.events].filter((e) => e.event === "disconnected" || e.event === "connected")).toHaveLength(2);
  }, 20_000);

  test("an introduction in progress is resumed at the new server", () => {
    const w = twoServers();
    w.peer("alice", "cone", undefined, undefined, undefined, undefined, { server: S2 }); // only at server 2
    const bob = w.peer("bob", "cone", "alice", undefined, 30 * second, undefined, { server: [SERVER, S2] });
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toBeUndefined(); // server 1 does not know alice
    w.killS1();
    w.net.clock.advance(15 * second);
    expect(connected(bob)).toMatchObject({ peer: "alice", path: "direct" });
    expect(bob.exit).toBeUndefined();
  });

  test("a relayed session between independent servers: re-introduced once the relay stays silent, a fresh attempt on the new relay", () => {
    const w = twoServers();
    const both = { server: [SERVER, S2] };
    const alice = w.peer("alice", "random", undefined, undefined, undefined, undefined, both);
    const bob = w.peer("bob", "random", "alice", undefined, undefined, undefined, both);
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toMatchObject({ path: "relay", address: `relay:${formatAddr(SERVER)}` });
    const t0 = w.net.clock.now();
    w.killS1();
    w.net.clock.advance(30 * second);
    // Server 2 (not a cluster instance of server 1) never saw this pair's token: the relay stays silent,
    // and after the dead-path wait plus RELAY_REINTRODUCE_AFTER the clients ask again; the new token
    // supersedes the dead session.
    for (const p of [alice, bob]) {
      expect(p.events.filter((e) => e.event === "disconnected")).toEqual([expect.objectContaining({ reason: "peer started a new session" })]);
      expect(p.events.filter((e) => e.event === "connected").at(-1)).toMatchObject({ path: "relay", address: `relay:${formatAddr(S2)}` });
    }
    const back = bob.events.findIndex((e, i) => e.event === "connected" && i > 1);
    expect(back).toBeGreaterThan(0);
    console.log(`simulated relayed session: back on server 2's relay ${w.seen.find((p) => p.at > t0 && p.body === "relayData" && sameAddr(p.from, S2))!.at - t0} ms after server 1 went silent`);
    bob.client.sendLine("through the new relay");
    alice.client.sendLine("and back");
    w.net.clock.advance(2 * second);
    expect(messages(alice)).toEqual(["through the new relay"]);
    expect(messages(bob)).toEqual(["and back"]);
    expect(bob.exit).toBeUndefined();
  });
});

// The name tests need "localhost" to be 127.0.0.1 alone (some hosts add ::1).
const localhostIsV4Only = JSON.stringify(await resolveAll("localhost")) === '["127.0.0.1"]';

describe("server lists over real UDP (loopback)", () => {
  const running: Array<RunningClient | RunningServer> = [];
  afterEach(() => running.splice(0).forEach((r) => r.stop()));
  const deadPort = async () => {
    const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {}, error() {} } });
    const port = probe.port;
    probe.close();
    return port;
  };

  test.if(localhostIsV4Only)("a dead first entry, then a name: registered at the name's address after REGISTER_FAILOVER_WAIT", async () => {
    const server = await startServer({ host: "127.0.0.1", port: 0 });
    running.push(server);
    const log = new EventLog();
    const started = performance.now();
    const c = await startClient({ server: `127.0.0.1:${await deadPort()},localhost:${server.port}`, name: "alice", identity: generateIdentity(), onEvent: log.push });
    running.push(c);
    expect(c.client.servers.size).toBe(2);
    await log.waitEvent("registered", 6_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(REGISTER_FAILOVER_WAIT - 50);
    expect(c.client.servers.current).toEqual({ ip: "127.0.0.1", port: server.port });
  }, 10_000);

  test.if(localhostIsV4Only)("entries naming the same address are one server (single-server mode)", async () => {
    const server = await startServer({ host: "127.0.0.1", port: 0 });
    running.push(server);
    const log = new EventLog();
    const c = await startClient({ server: `127.0.0.1:${server.port}, localhost:${server.port}`, name: "alice", identity: generateIdentity(), onEvent: log.push });
    running.push(c);
    expect(c.client.servers.all).toEqual([{ ip: "127.0.0.1", port: server.port }]);
    expect(c.client.servers.several).toBe(false);
    await log.waitEvent("registered");
  });

  test("a name that does not resolve is skipped while another entry works; all bad: RESOLVE_FAILED", async () => {
    const server = await startServer({ host: "127.0.0.1", port: 0 });
    running.push(server);
    const log = new EventLog();
    const c = await startClient({ server: `nonexistent.invalid,127.0.0.1:${server.port}`, name: "alice", identity: generateIdentity(), onEvent: log.push });
    running.push(c);
    expect(c.client.servers.all).toEqual([{ ip: "127.0.0.1", port: server.port }]);
    await log.waitEvent("registered");
    const bad = startClient({ server: "nonexistent.invalid,also-nonexistent.invalid", name: "bob", identity: generateIdentity(), onEvent: () => {} });
    await expect(bad).rejects.toMatchObject({ code: "RESOLVE_FAILED", message: expect.stringContaining("cannot resolve nonexistent.invalid") });
  });
});

describe("server lists", () => {
  test("parsing: order kept, default port, IPv6 in brackets", () => {
    expect(parseServerList("a.example:1000,10.0.0.2,[2001:db8::1]:39738, b.example ", DEFAULT_PORT)).toEqual([
      { host: "a.example", port: 1000 },
      { host: "10.0.0.2", port: DEFAULT_PORT },
      { host: "2001:db8::1", port: 39738 },
      { host: "b.example", port: DEFAULT_PORT },
    ]);
    expect(parseServerList("2001:db8::1", DEFAULT_PORT)).toEqual([{ host: "2001:db8::1", port: DEFAULT_PORT }]);
  });

  test.each([
    ["a,,b", 'server address 2 of 3 is empty (in "a,,b")'],
    ["a,", 'server address 2 of 2 is empty (in "a,")'],
    ["a,b:99999", 'server address 2 of 2: invalid port in "b:99999"'],
    ["[2001:db8::1,b", "server address 1 of 2: missing ']' in \"[2001:db8::1\""],
    ["a,[b.example]:1", 'server address 2 of 2: only IPv6 addresses go in brackets, not "b.example"'],
    ["127.0.0.1:99999", 'server address: invalid port in "127.0.0.1:99999"'],
    ["", "no server address given"],
  ])("bad list %p: %p", (text, message) => {
    expect(() => parseServerList(text, DEFAULT_PORT)).toThrow(message);
  });

  test("dedupe keeps the first of each; a socket's family decides which are usable", () => {
    const a = { ip: "10.0.0.1", port: 1 };
    const b = { ip: "2001:db8::1", port: 1 };
    expect(new ServerList([a, b, a]).all).toEqual([a, b]);
    expect(new ServerList(a).several).toBe(false);
    expect(usableFrom([a, b], "::")).toEqual([a, b]);
    expect(usableFrom([a, b], "0.0.0.0")).toEqual([a]);
    expect(usableFrom([a, b], "::1")).toEqual([b]);
    const list = new ServerList([a, b]);
    expect([list.advance(), list.advance()]).toEqual([b, a]);
  });

  describe("hp-client command line", () => {
    const cli = join(import.meta.dir, "../src/cli/client.ts");
    const run = (...args: string[]) => Bun.spawnSync(["bun", cli, ...args], { stderr: "pipe", stdout: "pipe", env: { ...process.env, XDG_CONFIG_HOME: "/nonexistent-hp-test" } });
    test.each([
      ["127.0.0.1:1,,127.0.0.2", 'error: server address 2 of 3 is empty (in "127.0.0.1:1,,127.0.0.2")'],
      ["127.0.0.1,127.0.0.2:0", 'error: server address 2 of 2: invalid port in "127.0.0.2:0"'],
      ["127.0.0.1,[localhost]", 'error: server address 2 of 2: only IPv6 addresses go in brackets, not "localhost"'],
    ])("%p: one line, exit 2, before anything is created", (servers, line) => {
      const r = run(servers, "alice");
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toBe(`${line}\n`);
      expect(r.stdout.toString()).toBe("");
    });
    test("--nat-check takes one server", () => {
      const r = run("--nat-check", "127.0.0.1,127.0.0.2");
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toBe("error: --nat-check probes one server: give one address, not a list\n");
    });
  });
});
