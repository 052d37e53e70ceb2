// End-to-end: the compiled hp-server / hp-client through real NATs, under
// loss, idleness and a NAT that forgets its mappings mid-session. The plain
// pairs (every kind against every kind) are in nat-matrix.test.ts, the relay
// in nat-relay.test.ts.
import { expect, test } from "bun:test";
import {
  apart,
  bothConnected,
  chat,
  client,
  natDescribe,
  ipOf,
  type Pair,
  received,
  startPair,
  startServer,
  waitReceived,
  withOutputs,
} from "./e2e.ts";
import { flushConntrack, Internet } from "./harness.ts";


interface Case {
  name: string;
  build: (net: Internet) => Promise<Pair>;
  /** Silence between `connected` and the chat (for NAT-timeout tests). */
  idleMs?: number;
  timeoutMs: number;
}

const cases: Case[] = [
  { name: "cone ↔ cone with 10 % loss", build: apart("cone", "cone", 10), timeoutMs: 70_000 },
  { name: "idle 35 s, then chat", build: apart("cone", "cone"), idleMs: 35_000, timeoutMs: 120_000 },
];

async function runCase(net: Internet, pair: Pair, c: Case): Promise<void> {
  await startServer(net);
  const { alice, bob } = await startPair(net, pair);
  const [aliceConn, bobConn] = await bothConnected(alice, bob);
  // A direct path: each side talks to the other's NAT (or LAN) address.
  expect([aliceConn.path, bobConn.path]).toEqual(["direct", "direct"]);
  expect(ipOf(aliceConn.address)).toBe(pair.aliceSeesBobAt);
  expect(ipOf(bobConn.address)).toBe(pair.bobSeesAliceAt);

  if (c.idleMs) await Bun.sleep(c.idleMs); // the point of this case: outlive the NATs' 30 s UDP timeout

  await chat(bob, "bob", alice);
  await chat(alice, "alice", bob);
}

natDescribe("hole punching through real NATs", (fresh, release) => {

  for (const c of cases) {
    test(c.name, async () => {
      const n = await fresh();
      const pair = await c.build(n);
      await withOutputs(n, () => runCase(n, pair, c));
    }, c.timeoutMs);
  }

  test("rebinding: alice's router forgets every mapping (conntrack -F) mid-chat; no line lost, duplicated or reordered", async () => {
    const n = await fresh();
    const pair = await apart("cone", "cone")(n);
    await withOutputs(n, async () => {
      await startServer(n);
      const { alice, bob } = await startPair(n, pair);
      const [aliceConn, bobConn] = await bothConnected(alice, bob);
      expect([aliceConn.path, bobConn.path]).toEqual(["direct", "direct"]);

      const LINES = 10;
      const GAP_MS = 1_500; // 10 lines each way over ~15 s
      const FLUSH_AFTER = 3; // between the 4th and 5th line
      const sent = { alice: [] as string[], bob: [] as string[] };
      const latency = { alice: [] as Promise<number>[], bob: [] as Promise<number>[] }; // by sender
      const peerOf = { alice: bob, bob: alice };
      const write = (name: "alice" | "bob", i: number) => {
        const line = `${name} line ${i} ${Math.random().toString(36).slice(2, 8)}`;
        sent[name].push(line);
        const at = performance.now();
        (name === "alice" ? alice : bob).writeLine(line);
        latency[name].push(peerOf[name].waitForEvent("message", 30_000, { from: name, text: line }).then(() => performance.now() - at, () => -1));
      };
      // Bob writes, half a gap later alice writes. The flush comes right after alice's
      // line FLUSH_AFTER, so bob's next line meets a router that no longer knows the
      // session (dropped, retransmitted) until alice's next packet maps her again.
      for (let i = 0; i < LINES; i++) {
        write("bob", i);
        await Bun.sleep(GAP_MS / 2);
        write("alice", i);
        if (i === FLUSH_AFTER) {
          await Bun.sleep(50); // let alice's line through first
          const held = await flushConntrack(pair.aliceSite);
          console.log(`rebinding: flushed alice's router (${JSON.stringify(held)} entries)`);
        }
        await Bun.sleep(GAP_MS / 2);
      }
      const [atAlice, atBob] = await Promise.all([waitReceived(alice, "bob", LINES, 20_000), waitReceived(bob, "alice", LINES, 20_000)]);
      await Bun.sleep(1_500); // room for a duplicate to show up
      for (const name of ["alice", "bob"] as const) {
        const ms = (await Promise.all(latency[name])).map((x) => Math.round(x));
        console.log(`rebinding: ${name}'s lines, ms from write to delivery (flush after line ${FLUSH_AFTER}): ${ms.join(" ")}`);
      }
      const moved = bob.stderrText.split("\n").filter((l) => l.includes("peer moved"));
      console.log(`rebinding: bob ${moved.length ? `saw alice move: ${moved.join(" | ")}` : "saw alice at the same address (port-preserving NAT re-mapped the same port)"}`);
      expect(atAlice).toEqual(sent.bob);
      expect(atBob).toEqual(sent.alice);
      expect(received(alice, "bob")).toEqual(sent.bob);
      expect(received(bob, "alice")).toEqual(sent.alice);
      expect(alice.lines.some((l) => l?.event === "disconnected" || l?.event === "error")).toBe(false);
      expect(bob.lines.some((l) => l?.event === "disconnected" || l?.event === "error")).toBe(false);
    });
  }, 60_000);

  test("unknown peer", async () => {
    const n = await fresh();
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
