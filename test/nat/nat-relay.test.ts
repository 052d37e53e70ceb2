// The server's relay through real NATs: its quota, turning it off, and a
// relayed session moving to a direct path once one opens.
import { expect, test } from "bun:test";
import {
  apart,
  bothConnected,
  client,
  natDescribe,
  ipOf,
  received,
  RELAY_ADDRESS,
  startPair,
  startServer,
  stopServer,
  waitReceived,
  withOutputs,
} from "./e2e.ts";
import { blockDirect, Internet, type Line, type Proc } from "./harness.ts";


const tag = () => Math.random().toString(36).slice(2, 8);

/** Resolves once `p` has printed no new stdout line for `quietMs` (or after `maxMs`). */
async function settle(p: Proc, quietMs: number, maxMs: number): Promise<void> {
  const end = performance.now() + maxMs;
  let seen = p.lines.length;
  let since = performance.now();
  while (performance.now() < end && performance.now() - since < quietMs) {
    await Bun.sleep(100);
    if (p.lines.length !== seen) [seen, since] = [p.lines.length, performance.now()];
  }
}

const isConnected = (l: Line) => l?.event === "connected";

natDescribe("relay through real NATs", (fresh, release) => {

  test("quota: random ↔ random relayed with --relay-quota 20000; a larger burst is cut off at the quota", async () => {
    const QUOTA = 20_000;
    const n = await fresh();
    const pair = await apart("random", "random")(n);
    await withOutputs(n, async () => {
      const server = await startServer(n, ["--relay-quota", String(QUOTA)]);
      const { alice, bob } = await startPair(n, pair);
      const [a, b] = await bothConnected(alice, bob);
      expect([a.path, b.path, a.address, b.address]).toEqual(["relay", "relay", RELAY_ADDRESS, RELAY_ADDRESS]);

      // 60 lines of 500 bytes: 30 kB of chat alone, half again the quota.
      const sent = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(3, "0")} ${tag()} ${"x".repeat(489)}`);
      for (const line of sent) bob.writeLine(line);
      await alice.waitForEvent("message", 10_000, { from: "bob" }); // the relay carried some
      await settle(alice, 3_000, 15_000); // retransmissions keep failing; nothing new arrives
      const got = received(alice, "bob");
      const stats = await stopServer(server);
      const quotaDrops = Number(stats["dropped_by_reason.relay_quota"] ?? 0);
      const relayed = Number(stats.relay_bytes ?? 0);
      console.log(
        `relay quota ${QUOTA} B: ${got.length}/${sent.length} lines (${sent[0]!.length} B each) arrived; ` +
          `server relayed ${relayed} B, dropped ${quotaDrops} datagrams for relay_quota, ${Number(stats["dropped_by_reason.relay_rate"] ?? 0)} for relay_rate`,
      );
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(sent.length);
      expect(got).toEqual(sent.slice(0, got.length)); // what did arrive is a prefix, in order
      expect(quotaDrops).toBeGreaterThan(0); // the quota is what stopped it
      expect(relayed).toBeLessThanOrEqual(QUOTA);
      expect(relayed).toBeGreaterThan(QUOTA - 1200); // and it was used up (to within one datagram)
    });
  }, 60_000);

  test("--no-relay on the server: random ↔ random fails with PUNCH_FAILED (exit 9)", async () => {
    const n = await fresh();
    const pair = await apart("random", "random")(n);
    await withOutputs(n, async () => {
      const server = await startServer(n, ["--no-relay"]);
      const { alice, bob, bobStartedAt } = await startPair(n, pair, ["--timeout", "8"]);
      const err = await bob.waitForEvent("error", 15_000, { code: "PUNCH_FAILED" });
      expect(await bob.waitExit(5_000)).toBe(9);
      const s = (performance.now() - bobStartedAt) / 1000;
      console.log(`--no-relay: bob gave up after ${s.toFixed(1)} s: ${err.message}`);
      expect(s).toBeGreaterThanOrEqual(7.5);
      expect(alice.lines.some(isConnected)).toBe(false);
      expect(bob.lines.some(isConnected)).toBe(false);
      const stats = await stopServer(server);
      expect(Number(stats.relay_bytes ?? 0)).toBe(0);
    });
  }, 30_000);

  // Lines in flight while the paths switch is the case that matters: acks and pongs
  // sent straight back to where a frame came from once made the first side to move
  // drop its handshake keys, leaving the other stuck on the relay (fixed in e35d3d7).
  // The idle variant narrows a failure down.
  test("upgrade: cone ↔ cone starts on the relay while the direct path is blocked, both sides move to direct once unblocked; lines before, during and after all arrive in order", async () => {
    const n = await fresh();
    await upgradeCase(n, true);
  }, 60_000);

  test("upgrade with nothing in flight while the paths switch: both sides move to direct", async () => {
    const n = await fresh();
    await upgradeCase(n, false);
  }, 60_000);

  test("failover: a direct cone ↔ cone session whose path is cut mid-chat moves to the relay within seconds; no line lost", async () => {
    const n = await fresh();
    const pair = await apart("cone", "cone")(n);
    await withOutputs(n, async () => {
      await startServer(n);
      const { alice, bob } = await startPair(n, pair);
      const [a, b] = await bothConnected(alice, bob);
      expect([a.path, b.path]).toEqual(["direct", "direct"]);
      const sent: string[] = [];
      const say = (line: string) => {
        sent.push(line);
        bob.writeLine(line);
      };
      say(`before ${tag()}`);
      await waitReceived(alice, "bob", 1, 10_000);
      // Cut the direct path on both routers (the relay, through the server, still works).
      await blockDirect(pair.aliceSite, pair.bobSite.publicIp);
      await blockDirect(pair.bobSite, pair.aliceSite.publicIp);
      const cutAt = performance.now();
      for (let i = 0; i < 5; i++) say(`after ${i} ${tag()}`);
      const moved = await bob.waitForEvent("path", 15_000, { path: "relay" });
      const movedMs = Math.round(performance.now() - cutAt);
      await alice.waitForEvent("path", 15_000, { path: "relay" });
      expect(await waitReceived(alice, "bob", sent.length, 15_000)).toEqual(sent);
      alice.writeLine("still here");
      await bob.waitForEvent("message", 10_000, { from: "alice", text: "still here" });
      console.log(`failover: bob on the relay ${movedMs} ms after the cut (${moved.address}); all ${sent.length} lines arrived in order`);
      expect(movedMs).toBeLessThan(10_000);
    });
  }, 60_000);
});

/**
 * cone ↔ cone with UDP between the two sites blocked on both routers for the
 * first ~3 s: they connect on the relay; once unblocked, each side's direct
 * probing must prove a direct path and report a `path` event.
 */
async function upgradeCase(n: Internet, linesDuring: boolean): Promise<void> {
  const pair = await apart("cone", "cone")(n);
  await withOutputs(n, async () => {
    const blocks = [await blockDirect(pair.aliceSite, pair.bobSite.publicIp), await blockDirect(pair.bobSite, pair.aliceSite.publicIp)];
    await startServer(n);
    const { alice, bob, bobStartedAt } = await startPair(n, pair);
    const [a, b] = await bothConnected(alice, bob);
    expect([a.path, b.path]).toEqual(["relay", "relay"]);

    const sent = { alice: [] as string[], bob: [] as string[] };
    const write = (phase: string, count: number) => {
      for (let i = 0; i < count; i++) {
        for (const [name, p] of [["alice", alice], ["bob", bob]] as const) {
          const line = `${name} ${phase} ${i} ${tag()}`;
          sent[name].push(line);
          p.writeLine(line);
        }
      }
    };
    write("before", 3);
    await Promise.all([waitReceived(alice, "bob", 3, 5_000), waitReceived(bob, "alice", 3, 5_000)]);

    await Bun.sleep(Math.max(0, bobStartedAt + 3_000 - performance.now())); // blocked for the first ~3 s
    expect(alice.lines.concat(bob.lines).some((l) => l?.event === "path")).toBe(false); // still blocked: no upgrade
    for (const blk of blocks) await blk.remove();
    const unblockedAt = performance.now();
    // Lines in flight while the sessions switch paths (each side moves on its own).
    const during = (async () => {
      if (!linesDuring) return;
      for (let i = 0; i < 6; i++) {
        write(`during-${i}`, 1);
        await Bun.sleep(250);
      }
    })();
    const upgraded = (p: Proc, peer: string) =>
      p.waitForEvent("path", 10_000, { peer }).then(
        (l) => ({ line: l as Line, ms: Math.round(performance.now() - unblockedAt) }),
        () => ({ line: undefined as Line, ms: -1 }),
      );
    const [pa, pb] = await Promise.all([upgraded(alice, "bob"), upgraded(bob, "alice")]);
    await during;
    const show = (r: { line: Line; ms: number }) => (r.line ? `${r.ms} ms after the unblock (${r.line.address})` : "no path event within 10 s");
    console.log(`upgrade${linesDuring ? " with lines in flight" : ", idle"}: alice ${show(pa)}; bob ${show(pb)}`);

    write("after", 3);
    const total = sent.alice.length;
    await Promise.all([waitReceived(alice, "bob", total, 10_000), waitReceived(bob, "alice", total, 10_000)]);
    await Bun.sleep(1_000); // room for a duplicate to show up
    expect(received(alice, "bob")).toEqual(sent.bob);
    expect(received(bob, "alice")).toEqual(sent.alice);
    for (const p of [alice, bob]) expect(p.lines.some((l) => l?.event === "disconnected" || l?.event === "error")).toBe(false);

    expect({ alice: pa.line?.path, bob: pb.line?.path }).toEqual({ alice: "direct", bob: "direct" });
    expect(ipOf(pa.line.address)).toBe(pair.aliceSeesBobAt);
    expect(ipOf(pb.line.address)).toBe(pair.bobSeesAliceAt);
    for (const p of [alice, bob]) expect(p.lines.filter((l) => l?.event === "path").length).toBe(1);
  });
}

natDescribe("--no-relay on one client", (fresh, release) => {

  // README: "With --no-relay (either side) such pairs fail with PUNCH_FAILED". Before
  // e35d3d7 the --no-relay side still answered relayed probes: its peer reported
  // `connected` on the relay while it failed, a half-open session.
  for (const side of ["bob", "alice"] as const) {
    test(`${side} --no-relay, relaying server: random ↔ random fails with PUNCH_FAILED, nobody connects`, async () => {
      const n = await fresh();
      const pair = await apart("random", "random")(n);
      await withOutputs(n, async () => {
        await startServer(n);
        const alice = client(n, pair.alice, side === "alice" ? ["alice", "--no-relay"] : ["alice"]);
        await alice.waitForEvent("registered", 10_000);
        const bob = client(n, pair.bob, ["bob", "alice", "--timeout", "8", ...(side === "bob" ? ["--no-relay"] : [])]);
        await bob.waitForEvent("error", 15_000, { code: "PUNCH_FAILED" });
        expect(await bob.waitExit(5_000)).toBe(9);
        const connected = [alice, bob].flatMap((p) => p.lines.filter(isConnected).map((l) => `${p === alice ? "alice" : "bob"}: ${JSON.stringify(l)}`));
        expect(connected).toEqual([]);
      });
    }, 30_000);
  }
});
