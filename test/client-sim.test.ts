// Server and clients as pure state machines on the in-memory internet:
// a named NAT matrix, loss, and the client's failure paths, in simulated time.
import { describe, expect, test } from "bun:test";
import { HolePunchClient, type ClientEvent } from "../src/client/client.ts";
import { connected, messages, world, type Site } from "./support/sim-world.ts";
import { second } from "../src/constants.ts";
import { SimNet } from "./support/sim-net.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { MappingKind } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { memoryTokens } from "../src/client/address-tokens.ts";

const matrix: Array<{ name: string; a: Site; b: Site; sameLan?: boolean; loss?: number }> = [
  { name: "cone ↔ cone", a: "cone", b: "cone" },
  { name: "public ↔ cone", a: "public", b: "cone" },
  { name: "public ↔ public", a: "public", b: "public" },
  { name: "same NAT, no hairpin", a: "cone", b: "cone", sameLan: true },
  { name: "dmz ↔ random", a: "dmz", b: "random" },
  { name: "cone ↔ cone, 10 % loss", a: "cone", b: "cone", loss: 10 },
  { name: "cone ↔ cone, 30 % loss", a: "cone", b: "cone", loss: 30 },
];

describe("NAT matrix (simulated)", () => {
  for (const c of matrix) {
    test(c.name, () => {
      const w = world(c.loss ?? 0);
      const alice = w.peer("alice", c.a);
      const bob = c.sameLan ? w.peer("bob", c.b, "alice", "10.1.0.") : w.peer("bob", c.b, "alice");
      w.net.clock.advance(20 * second);
      expect(connected(alice)).toBeDefined();
      expect(connected(bob)).toBeDefined();
      for (let i = 0; i < 20; i++) {
        alice.client.sendLine(`a${i}`);
        bob.client.sendLine(`b${i}`);
      }
      w.net.clock.advance(20 * second);
      expect(messages(bob)).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`));
      expect(messages(alice)).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
    });
  }

  // Easy <-> hard: simultaneous probing alone cannot open these (a
  // port-restricted NAT only lets in the exact port it sent to, and a
  // random-port NAT never reuses the port the other side learned); the
  // birthday-paradox method does, directly.
  for (const [a, b] of [["cone", "random"], ["random", "cone"], ["dmz", "random"], ["public", "random"]] as Array<[Site, Site]>) {
    test(`${a} ↔ ${b}: direct${a === "cone" || b === "cone" ? " by birthday-paradox punching" : ""}; spare sockets closed`, () => {
      const w = world(0, 4, { relay: false });
      const alice = w.peer("alice", a);
      const bob = w.peer("bob", b, "alice");
      w.net.clock.advance(5 * second);
      expect(connected(alice)).toMatchObject({ path: "direct" });
      expect(connected(bob)).toMatchObject({ path: "direct" });
      bob.client.sendLine("hello across a hard NAT");
      w.net.clock.advance(1 * second);
      expect(messages(alice)).toEqual(["hello across a hard NAT"]);
      // server (2 ports), alice, bob, and only the extra sockets the peer reached (not all 256)
      expect(w.net.socketCount).toBeLessThan(2 + 2 + 10);
    });
  }

  // Sequential NATs: the peer predicts the next ports (no birthday sockets, no relay).
  for (const [a, b] of [["cone", "sequential"], ["sequential", "public"], ["sequential", "cone"]] as Array<[Site, Site]>) {
    test(`${a} ↔ ${b}: direct${a === "cone" || b === "cone" ? " by port prediction" : ""}, relay off`, () => {
      const w = world(0, 7, { relay: false });
      const alice = w.peer("alice", a);
      const bob = w.peer("bob", b, "alice");
      w.net.clock.advance(5 * second);
      expect(connected(alice)).toMatchObject({ path: "direct" });
      expect(connected(bob)).toMatchObject({ path: "direct" });
      expect(alice.client.server.mapping === MappingKind.SEQUENTIAL || bob.client.server.mapping === MappingKind.SEQUENTIAL).toBe(true);
      bob.client.sendLine("hello across a sequential NAT");
      w.net.clock.advance(1 * second);
      expect(messages(alice)).toEqual(["hello across a sequential NAT"]);
    });
  }

  test("cone ↔ random, 20 seeds: all direct; time to connected", () => {
    const times: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const w = world(0, seed, { relay: false });
      const alice = w.peer("alice", "cone");
      w.net.clock.advance(1 * second);
      const t0 = w.net.clock.now();
      let at: number | undefined;
      const bob = w.peer("bob", "random", "alice");
      for (let t = 0; t < 100 && at === undefined; t++) {
        w.net.clock.advance(100);
        if (connected(bob) && connected(alice)) at = w.net.clock.now() - t0;
      }
      expect({ seed, path: connected(bob)?.path }).toEqual({ seed, path: "direct" });
      times.push(at!);
    }
    times.sort((x, y) => x - y);
    console.log(`simulated cone ↔ random: 20/20 direct; time to connected ms: min ${times[0]}, median ${times[10]}, max ${times[19]}`);
  });

  // Hard <-> hard: only the relay.
  test(`random ↔ random: through the relay, path "relay"`, () => {
    const w = world();
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(alice)).toMatchObject({ path: "relay", address: "relay:198.18.0.1:39738" });
    expect(connected(bob)).toMatchObject({ path: "relay" });
    for (let i = 0; i < 20; i++) bob.client.sendLine(`b${i}`);
    alice.client.sendLine("via the server, sealed");
    w.net.clock.advance(5 * second);
    expect(messages(alice)).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
    expect(messages(bob)).toEqual(["via the server, sealed"]);
    expect(w.server().stats.get("relay_bytes")).toBeGreaterThan(0);
  });

  test("random ↔ random, relay off: PUNCH_FAILED, never a false 'connected'", () => {
    const w = world(0, 1, { relay: false });
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice", undefined, 20 * second);
    w.net.clock.advance(25 * second);
    expect(connected(alice)).toBeUndefined();
    expect(connected(bob)).toBeUndefined();
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PUNCH_FAILED" });
    expect(bob.exit).toBe(9);
  });

  test("slow punching starts on the relay and upgrades to direct live, without losing a line", () => {
    const w = world();
    let blockDirect = true;
    // Direct packets between the two NATs are lost for the first 3 s.
    w.net.tap = (b, from, to) => (blockDirect && from.ip.startsWith("198.18.1.") && to.ip.startsWith("198.18.1.") ? null : b);
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(2 * second);
    expect(connected(bob)).toMatchObject({ path: "relay" });
    for (let i = 0; i < 10; i++) bob.client.sendLine(`before ${i}`);
    w.net.clock.advance(1 * second);
    blockDirect = false;
    for (let i = 0; i < 10; i++) bob.client.sendLine(`during ${i}`);
    w.net.clock.advance(3 * second);
    for (let i = 0; i < 10; i++) bob.client.sendLine(`after ${i}`);
    w.net.clock.advance(2 * second);
    expect(bob.events.find((e) => e.event === "path")).toMatchObject({ path: "direct", address: expect.stringMatching(/^198\.18\.1\./) });
    expect(alice.events.find((e) => e.event === "path")).toMatchObject({ path: "direct" });
    const want = ["before", "during", "after"].flatMap((p) => Array.from({ length: 10 }, (_, i) => `${p} ${i}`));
    expect(messages(alice)).toEqual(want);
    const relayed = w.server().stats.get("relay_bytes");
    alice.client.sendLine("direct now");
    w.net.clock.advance(1 * second);
    expect(w.server().stats.get("relay_bytes")).toBe(relayed); // nothing more through the server
    expect(messages(bob)).toEqual(["direct now"]);
  });

  test("an established direct path that goes dead fails over to the relay within seconds; no line lost", () => {
    const w = world(0, 3);
    let blockDirect = false;
    w.net.tap = (b, from, to) => (blockDirect && from.ip.startsWith("198.18.1.") && to.ip.startsWith("198.18.1.") ? null : b);
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(2 * second);
    expect(connected(bob)).toMatchObject({ path: "direct" });
    bob.client.sendLine("before");
    w.net.clock.advance(1 * second);
    blockDirect = true; // e.g. a firewall change on the way: the direct path just stops
    const t0 = w.net.clock.now();
    for (let i = 0; i < 5; i++) bob.client.sendLine(`after ${i}`);
    alice.client.sendLine("reply");
    let movedAt: number | undefined;
    for (let t = 0; t < 200 && movedAt === undefined; t++) {
      w.net.clock.advance(100);
      if (bob.events.some((e) => e.event === "path" && e.path === "relay")) movedAt = w.net.clock.now() - t0;
    }
    w.net.clock.advance(10 * second);
    expect(movedAt).toBeLessThanOrEqual(7 * second);
    expect(alice.events.some((e) => e.event === "path" && e.path === "relay")).toBe(true);
    expect(messages(alice)).toEqual(["before", ...Array.from({ length: 5 }, (_, i) => `after ${i}`)]);
    expect(messages(bob)).toEqual(["reply"]);
    expect(alice.events.some((e) => e.event === "disconnected")).toBe(false);
  });

  test("relay throughput is bounded by the relay's byte rate, not the per-IP request limit", () => {
    const w = world();
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice");
    w.net.clock.advance(5 * second);
    const lines = Array.from({ length: 300 }, (_, i) => `${i} ${"x".repeat(900)}`);
    for (const l of lines) bob.client.sendLine(l);
    w.net.clock.advance(10 * second);
    expect(messages(alice)).toEqual(lines); // ~300 KB in well under 10 s: far more than 50 datagrams/s
    expect(w.server().stats.droppedFor("rate_limited")).toBe(0);
  });

  test("--no-relay on one side: that side ignores relayed packets, so the pair fails cleanly", () => {
    const w = world();
    w.peer("alice", "random", undefined, undefined, 30 * second, undefined, { relay: false });
    const bob = w.peer("bob", "random", "alice", undefined, 8 * second);
    w.net.clock.advance(10 * second);
    expect(connected(bob)).toBeUndefined();
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PUNCH_FAILED" });
  });

  test("relay quota: a session that exceeds it stops being relayed", () => {
    const w = world(0, 1, { relay: { quotaBytes: 20_000 } });
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toMatchObject({ path: "relay" });
    for (let i = 0; i < 100; i++) bob.client.sendLine("x".repeat(900));
    w.net.clock.advance(10 * second);
    expect(messages(alice).length).toBeGreaterThan(0);
    expect(messages(alice).length).toBeLessThan(100);
    expect(w.server().stats.droppedFor("relay_quota")).toBeGreaterThan(0);
  });
});

// Round trips to "connected" (every hop 5 ms one way, so 1 RTT = 10 ms; the
// ideal is one request/response to the server plus one peer round trip):
// a first start needs the cookie round trip too; a returning client (its
// address token from last time, same public IP) needs none.
describe("round trips to connected (simulated, easy NATs)", () => {
  const timeToConnected = (w: ReturnType<typeof world>, alice: ReturnType<ReturnType<typeof world>["peer"]>, start: () => ReturnType<ReturnType<typeof world>["peer"]>) => {
    const t0 = w.net.clock.now();
    const bob = start();
    for (let i = 0; i < 1000 && !(connected(alice) && connected(bob)); i++) w.net.clock.advance(1);
    return w.net.clock.now() - t0;
  };
  test("first start: 2 server RTTs (cookie, then Register carrying the introduction) + 1 peer RTT", () => {
    const w = world(0, 3);
    const alice = w.peer("alice", "cone");
    w.net.clock.advance(3 * second);
    expect(timeToConnected(w, alice, () => w.peer("bob", "cone", "alice"))).toBe(30);
  });
  test("returning client (0-RTT address token): 1 server RTT + 1 peer RTT, the ideal", () => {
    const w = world(0, 3);
    const alice = w.peer("alice", "cone");
    const tokens = memoryTokens();
    const first = w.peer("bob", "cone", undefined, undefined, undefined, undefined, { addressTokens: tokens });
    w.net.clock.advance(3 * second);
    first.client.close();
    w.net.clock.advance(3 * second);
    // Bob starts again behind the same NAT (same public IP, new port).
    expect(timeToConnected(w, alice, () => w.peer("bob", "cone", "alice", "10.2.0.", undefined, undefined, { addressTokens: tokens }))).toBe(20);
  });
});

describe("client lifecycle (simulated)", () => {
  test("peer registers late: bob retries until alice appears", () => {
    const w = world();
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toBeUndefined();
    const alice = w.peer("alice", "cone");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toBeDefined();
    expect(connected(alice)).toBeDefined();
  });

  test("unknown peer: PEER_UNKNOWN after --timeout", () => {
    const w = world();
    const bob = w.peer("bob", "cone", "carol", undefined, 5 * second);
    w.net.clock.advance(6 * second);
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PEER_UNKNOWN" });
    expect(bob.exit).toBe(8);
  });

  test("unreachable server: SERVER_UNREACHABLE after 10 s", () => {
    const identity = generateIdentity();
    const net = new SimNet();
    const events: ClientEvent[] = [];
    let exit: number | undefined;
    const c = new HolePunchClient({
      server: { ip: "198.18.0.99", port: 1 },
      name: "bob",
      identity,
      clock: net.clock,
      send: net.bind({ ip: "198.18.0.5", port: 5000 }, () => {}),
      onEvent: (e) => events.push(e),
      onDone: (code) => (exit = code),
    });
    c.start();
    net.clock.advance(11 * second);
    expect(events).toEqual([expect.objectContaining({ event: "error", code: "SERVER_UNREACHABLE" })]);
    expect(exit).toBe(3);
  });

  test("name taken: another key cannot register a live name", () => {
    const w = world();
    w.peer("alice", "cone");
    w.net.clock.advance(1 * second);
    const imposter = w.peer("alice", "cone", undefined, undefined, undefined, generateIdentity());
    w.net.clock.advance(1 * second);
    expect(imposter.events.at(-1)).toMatchObject({ event: "error", code: "NAME_TAKEN" });
    expect(imposter.exit).toBe(5);
  });

  test("idle for 5 minutes: keepalives hold the session and the registration", () => {
    const w = world();
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toBeDefined();
    w.net.clock.advance(300 * second);
    bob.client.sendLine("still there?");
    w.net.clock.advance(2 * second);
    expect(messages(alice)).toEqual(["still there?"]);
    expect(alice.events.some((e) => e.event === "disconnected")).toBe(false);
    expect(w.server().registry.size).toBe(2);
  });

  test("peer vanishes: PEER_LOST within the peer timeout, unacked lines counted", () => {
    const w = world();
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    w.net.lossPercent = 100; // a crash: not even the Bye gets out
    alice.client.close("crash");
    bob.client.sendLine("anyone?");
    w.net.clock.advance(40 * second);
    const d = bob.events.find((e) => e.event === "disconnected");
    expect(d).toMatchObject({ event: "disconnected", peer: "alice", unacked: "anyone?\n".length }); // chat bytes not acknowledged
    expect(bob.exit).toBe(10);
  });

  test("peer says bye: initiator exits 0, listener waits for the next peer", () => {
    const w = world();
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    alice.client.close("bye");
    w.net.clock.advance(1 * second);
    expect(bob.exit).toBe(0);
    const carol = w.peer("carol", "cone");
    const alice2 = w.peer("dave", "cone", "carol");
    w.net.clock.advance(5 * second);
    expect(connected(carol)).toBeDefined();
    expect(connected(alice2)).toBeDefined();
  });

  test("a long line is chunked and reassembled", () => {
    const w = world(5);
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    const long = "λ".repeat(5000) + "end";
    bob.client.sendLine(long);
    w.net.clock.advance(10 * second);
    expect(messages(alice)).toEqual([long]);
  });
});

test("the initiator crashes and restarts (same key): the listener drops the old session for the new one", () => {
  const w = world();
  const alice = w.peer("alice", "cone");
  const bob = w.peer("bob", "cone", "alice");
  w.net.clock.advance(5 * second);
  expect(connected(alice)).toBeDefined();
  w.net.lossPercent = 100; // bob dies without a Bye or an Unregister
  bob.client.close("crash");
  w.net.lossPercent = 0;
  w.net.clock.advance(1 * second);
  // A new bob process: same identity file, new socket. Same key, so it takes the name at once.
  const bob2 = w.peer("bob", "cone", "alice");
  w.net.clock.advance(5 * second);
  expect(connected(bob2)).toBeDefined();
  expect(alice.events.filter((e) => e.event === "connected")).toHaveLength(2);
  expect(alice.events.find((e) => e.event === "disconnected")).toMatchObject({ reason: "peer started a new session" });
  bob2.client.sendLine("it's me again");
  w.net.clock.advance(2 * second);
  expect(messages(alice)).toEqual(["it's me again"]);
});

test("a client that exits cleanly frees its name: a restart takes it at once", () => {
  const w = world();
  const alice = w.peer("alice", "cone");
  w.net.clock.advance(1 * second);
  alice.client.close("restart");
  w.net.clock.advance(100);
  expect(w.server().registry.size).toBe(0);
  const again = w.peer("alice", "cone");
  w.net.clock.advance(1 * second);
  expect(again.events).toEqual([expect.objectContaining({ event: "registered", name: "alice" })]);
});
