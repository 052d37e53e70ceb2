// Two (or three) hp-server instances on loopback sharing a real redis-server
// (hp-server --redis): clients of different instances find each other, a name
// belongs to one key cluster-wide, a restarted instance takes its clients
// back from Redis, and losing Redis degrades to per-instance service.
import { describe, expect, test } from "bun:test";
import type { RunningServer } from "../src/server/udp-server.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { clusterFixture, waitUntil } from "./support/cluster.ts";
import { punchRequest, registered, scriptClient } from "./support/script-client.ts";
import { TestRedis } from "./support/redis.ts";

const fx = clusterFixture();
const { instance } = fx;
const client = fx.client;
const count = (s: RunningServer, k: string) => s.core.stats.get(k);

describe("cluster over redis", () => {
  test("alice at one instance, bob at another: introduced across instances, connected directly", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const alice = await client(a, "alice");
    await alice.log.waitEvent("registered");
    const bob = await client(b, "bob", { peer: "alice" });
    const [ca, cb] = await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
    expect(ca).toMatchObject({ peer: "bob", path: "direct" });
    expect(cb).toMatchObject({ peer: "alice", path: "direct" });
    bob.c.client.sendLine("hello across instances");
    await alice.log.waitMessage("hello across instances");
    // b looked alice up in Redis and asked a to send alice's Initiate.
    expect(count(b, "cluster_sent_introduce")).toBeGreaterThanOrEqual(1);
    expect(count(a, "cluster_received_introduce")).toBeGreaterThanOrEqual(1);
    expect(count(b, "punch_started")).toBe(1);
    // Redis holds each registration under its instance.
    expect(await fx.redis.send("HGET", ["hp:reg:alice", "inst"])).toBe("a");
    expect(await fx.redis.send("HGET", ["hp:reg:bob", "inst"])).toBe("b");
  }, 20_000);

  test("a name belongs to one key across the cluster", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const first = await client(a, "bob");
    await first.log.waitEvent("registered");
    const thief = await client(b, "bob");
    const error = await thief.log.waitEvent("error", 5000);
    expect(error.code).toBe("NAME_TAKEN");
    expect(count(b, "register_name_taken")).toBeGreaterThanOrEqual(1);
    expect(b.core.registry.lookup("bob", performance.now())).toBeUndefined();
  }, 15_000);

  test("the same key registering at another instance moves the name there; the old instance forgets it", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const identity = generateIdentity();
    const first = await client(a, "bob", { identity });
    await first.log.waitEvent("registered");
    fx.stopClient(first.c);
    // The Unregister removed it; register at a again without unregistering, by the library's
    // crash-like path: a second client with the same key at b while a still holds it.
    const again = await client(a, "carol", { identity });
    await again.log.waitEvent("registered");
    const moved = await client(b, "carol", { identity });
    await moved.log.waitEvent("registered");
    await waitUntil(() => count(a, "cluster_moved_out") === 1, 3000, "a forgets carol");
    expect(a.core.registry.lookup("carol", performance.now())).toBeUndefined();
    expect(await fx.redis.send("HGET", ["hp:reg:carol", "inst"])).toBe("b");
    expect(await fx.redis.send("HGET", ["hp:reg:bob", "inst"])).toBeNull(); // unregistered
  }, 15_000);

  test("a registration that ends without its client asking (its address taken by another name) leaves redis too", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const sock = await scriptClient(a.port);
    try {
      const id = generateIdentity();
      await registered(sock, "alice", id);
      expect(await fx.redis.send("HGET", ["hp:reg:alice", "inst"])).toBe("a");
      await registered(sock, "alice2", id); // the same address now holds alice2: alice is gone here
      await waitUntil(async () => (await fx.redis.send("HGET", ["hp:reg:alice", "inst"])) === null, 3000, "alice released in redis");
      // So bob at b hears "unknown", not an Initiate towards alice2's address.
      const bobSock = await scriptClient(b.port);
      try {
        const secret = await registered(bobSock, "bob", generateIdentity());
        bobSock.send(punchRequest("alice", secret), 7n);
        let reply = await bobSock.next();
        while (reply.txid !== 7n) reply = await bobSock.next();
        expect(reply.body.case).toBe("holePunchResponseUnknown");
      } finally {
        bobSock.close();
      }
    } finally {
      sock.close();
    }
  }, 15_000);

  test("a restarted instance takes its registrations back from redis: no client registers again", async () => {
    const a = await instance("a", { keepaliveMs: 500 });
    const port = a.port;
    const alice = await client(a, "alice");
    await alice.log.waitEvent("registered");
    await waitUntil(async () => (await fx.redis.send("HGET", ["hp:reg:alice", "inst"])) === "a", 3000, "alice in redis");
    fx.stop(a);
    const a2 = await instance("a", { port, keepaliveMs: 500 });
    expect(a2.restored).toBe(1);
    await waitUntil(() => count(a2, "keepalive_ok") >= 2, 5000, "alice's keepalives answered by the new process");
    expect(count(a2, "register_ok") + count(a2, "register_hello")).toBe(0);
    expect(count(a2, "keepalive_unknown")).toBe(0);
    // And she is reachable through the restarted instance.
    const b = await instance("b");
    const bob = await client(b, "bob", { peer: "alice" });
    await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
  }, 20_000);

  test("redis down: each instance still serves its own clients; when it is back, registrations are written again", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const alice = await client(a, "alice");
    const dave = await client(a, "dave");
    await Promise.all([alice.log.waitEvent("registered"), dave.log.waitEvent("registered")]);
    await fx.redis.kill();
    await waitUntil(() => !a.core.cluster!.port.up && !b.core.cluster!.port.up, 3000, "both notice redis is gone");
    // Same instance: works without redis.
    const bob = await client(a, "bob", { peer: "alice" });
    await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
    // Across instances: unknown while redis is down (an answer, no crash).
    const carol = await client(b, "carol", { peer: "dave" });
    await carol.log.waitEvent("registered");
    await waitUntil(() => count(b, "punch_unknown") >= 1, 5000, "b answers unknown");
    expect(count(b, "punch_started")).toBe(0);
    await fx.redis.restart();
    await waitUntil(async () => (await fx.redis.send("HGET", ["hp:reg:dave", "inst"])) === "a", 10_000, "a writes dave again");
    await Promise.all([carol.log.waitEvent("connected", 10_000), dave.log.waitEvent("connected", 10_000)]);
    expect(await fx.redis.send("HGET", ["hp:reg:carol", "inst"])).toBe("b"); // b wrote its own too
  }, 40_000);

  test("an instance started while redis is down serves its clients, and joins the cluster when redis comes up", async () => {
    const late = new TestRedis(fx.redis.port + 1);
    const a = await instance("a", { redis: late.url });
    expect(a.core.cluster!.port.up).toBe(false);
    const alice = await client(a, "alice");
    await alice.log.waitEvent("registered");
    try {
      await late.restart();
      await waitUntil(async () => (await late.send("HGET", ["hp:reg:alice", "inst"])) === "a", 10_000, "alice written once redis is up");
    } finally {
      await late.kill();
    }
  }, 20_000);
});

