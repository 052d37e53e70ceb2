// Every pair of NAT kinds, through the compiled binaries: who connects, and
// on which path. EXPECTED is the contract; a change in the product that
// moves a pair (say, port prediction turning a relay pair direct) must flip
// its entry here on purpose.
import { expect, test } from "bun:test";
import {
  apart,
  bothConnected,
  chat,
  natDescribe,
  ipOf,
  type Pair,
  RELAY_ADDRESS,
  startPair,
  startServer,
  together,
  withOutputs,
} from "./e2e.ts";
import { Internet, type Line, type Proc, type SiteKind } from "./harness.ts";


type Path = "direct" | "relay";

/**
 * The path each pair connects on (the first kind listens as alice, the
 * second connects as bob; every pair of two different kinds also runs the
 * other way round against the same entry).
 *
 * - "relay": no probing opens a path between two NATs that each pick a new
 *   random port per destination (random, and double = home NAT behind a
 *   random-port CGNAT); the server relays.
 * - cone ↔ random / cone ↔ double: the port-restricted cone cannot be reached
 *   by ordinary probing, but birthday-paradox port prediction (src/client/
 *   birthday.ts, since 28b2a76) opens a direct path; see BIRTHDAY.
 */
const EXPECTED: Record<string, Path> = {
  "public ↔ public": "direct",
  "public ↔ cone": "direct",
  "public ↔ dmz": "direct",
  "public ↔ random": "direct",
  "public ↔ double": "direct",
  "cone ↔ cone": "direct",
  "cone ↔ dmz": "direct",
  "cone ↔ random": "direct", // birthday paradox (was "relay" before 28b2a76)
  "cone ↔ double": "direct", // birthday paradox (was "relay" before 28b2a76)
  "dmz ↔ dmz": "direct",
  "dmz ↔ random": "direct",
  "dmz ↔ double": "direct",
  "random ↔ random": "relay",
  "random ↔ double": "relay",
  "double ↔ double": "relay",
  "same NAT, no hairpin": "direct",
};

/**
 * Direct only by birthday-paradox port prediction: a spray that has not hit
 * within BIRTHDAY_RELAY_AFTER (2 s; odds about e^-5 with 256 ports open and 64
 * probes per 100 ms) lets the relay carry the session first, which must then
 * move to direct (a `path` event) while the spray goes on (10 s at most).
 */
const BIRTHDAY = new Set(["cone ↔ random", "cone ↔ double"]);
/** How long a birthday pair may take to end up direct after a relay start. */
const BIRTHDAY_UPGRADE_MS = 12_000;

const KINDS: SiteKind[] = ["public", "cone", "dmz", "random", "double"];

interface MatrixCase {
  /** Test name; `entry` is its EXPECTED key. */
  name: string;
  entry: string;
  build: (net: Internet) => Promise<Pair>;
}

const matrix: MatrixCase[] = [];
for (let i = 0; i < KINDS.length; i++) {
  for (let j = i; j < KINDS.length; j++) {
    const [a, b] = [KINDS[i]!, KINDS[j]!];
    matrix.push({ name: `${a} ↔ ${b}`, entry: `${a} ↔ ${b}`, build: apart(a, b) });
  }
}
matrix.push({ name: "same NAT, no hairpin", entry: "same NAT, no hairpin", build: together });
// The other way round (who listens, who initiates, who is alice) must not matter.
for (let i = 0; i < KINDS.length; i++) {
  for (let j = i + 1; j < KINDS.length; j++) {
    const [a, b] = [KINDS[i]!, KINDS[j]!];
    matrix.push({ name: `${b} ↔ ${a} (reversed)`, entry: `${a} ↔ ${b}`, build: apart(b, a) });
  }
}

/** What each case did, printed as a table at the end. */
const results: { name: string; path: string; ms: number; chatMs: [number, number]; roles: string }[] = [];

const BIRTHDAY_ROLE = /birthday=(\S+)/;
const roleOf = (p: Proc) => BIRTHDAY_ROLE.exec(p.stderrText)?.[1] ?? "-";

/**
 * Generous: a first line that is slow (not lost) shows in the summary, and the
 * repeated cone ↔ random runs below check it strictly.
 */
const CHAT_MS = 15_000;

/** Sends one line from each side in turn (alice, the listener, first) and returns each delivery time. */
async function chatTimed(alice: Proc, bob: Proc): Promise<[number, number]> {
  const t0 = performance.now();
  await chat(alice, "alice", bob, CHAT_MS);
  const t1 = performance.now();
  await chat(bob, "bob", alice, CHAT_MS);
  return [t1 - t0, performance.now() - t1];
}

/**
 * Connects the pair, checks the path against the table and chats both ways.
 * Returns the path taken ("relay→direct" for a birthday pair that started relayed).
 */
async function connectAndChat(net: Internet, pair: Pair, entry: string) {
  const expected = EXPECTED[entry]!;
  const { alice, bob, bobStartedAt } = await startPair(net, pair);
  const [aliceConn, bobConn] = await bothConnected(alice, bob);
  const ms = performance.now() - bobStartedAt;
  let path: string = aliceConn.path === bobConn.path ? aliceConn.path : `${aliceConn.path}/${bobConn.path}`;
  let [aliceAt, bobAt] = [aliceConn.address, bobConn.address];
  if (BIRTHDAY.has(entry) && (aliceConn.path === "relay" || bobConn.path === "relay")) {
    // The relay came first (on one side or both): each relayed side must move to direct.
    const moved = async (p: Proc, peer: string, conn: Line) =>
      conn.path === "relay" ? await p.waitForEvent("path", BIRTHDAY_UPGRADE_MS, { peer }) : conn;
    const [pa, pb] = await Promise.all([moved(alice, "bob", aliceConn), moved(bob, "alice", bobConn)]);
    expect([pa.path, pb.path]).toEqual(["direct", "direct"]);
    [path, aliceAt, bobAt] = [`${path}→direct`, pa.address, pb.address];
  } else {
    expect({ alice: aliceConn.path, bob: bobConn.path }).toEqual({ alice: expected, bob: expected });
  }
  if (expected === "direct") {
    // Each side talks to the other's NAT (or, on one LAN, the other's LAN address).
    expect(ipOf(aliceAt)).toBe(pair.aliceSeesBobAt);
    expect(ipOf(bobAt)).toBe(pair.bobSeesAliceAt);
  } else {
    expect([aliceAt, bobAt]).toEqual([RELAY_ADDRESS, RELAY_ADDRESS]);
  }
  const chatMs = await chatTimed(alice, bob);
  return { alice, bob, path, ms, chatMs };
}

const fmtMs = (x: number) => `${Math.round(x)} ms`;

natDescribe("NAT matrix: every pair connects, on the expected path", (fresh, release) => {

  test("the expectation table covers exactly the matrix", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...new Set(matrix.map((c) => c.entry))].sort());
    expect(Object.keys(EXPECTED).length).toBe(16); // 15 unordered pairs of 5 kinds + same NAT
    for (const k of BIRTHDAY) expect(EXPECTED[k]).toBe("direct");
  });

  for (const c of matrix) {
    test(`${c.name}: ${EXPECTED[c.entry]}`, async () => {
      const n = await fresh();
      const pair = await c.build(n);
      await withOutputs(n, async () => {
        await startServer(n);
        const r = await connectAndChat(n, pair, c.entry);
        results.push({ name: c.name, path: r.path, ms: r.ms, chatMs: r.chatMs, roles: `${roleOf(r.alice)}/${roleOf(r.bob)}` });
      });
    }, 60_000);
  }

  test("summary", () => {
    const rows = results.map(
      (r) =>
        `  ${r.name.padEnd(28)} ${r.path.padEnd(12)} ${fmtMs(r.ms).padStart(8)}   first line a→b ${fmtMs(r.chatMs[0]).padStart(8)}, b→a ${fmtMs(r.chatMs[1]).padStart(8)}   birthday roles (alice/bob) ${r.roles}`,
    );
    console.log(`NAT matrix (pair, path, bob's start -> both connected, chat):\n${rows.join("\n")}`);
  });
});

// ---- repeated runs of the birthday pair --------------------------------------

const RUNS = 20;
/** A first line slower than this on a fresh direct path is a stall, not latency. */
const STALL_MS = 3_000;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface Run {
  ok: boolean;
  /** bob's start -> both `connected`. */
  ms: number;
  path: string;
  /** First line cone -> random (alice, the spraying side, speaks first), then random -> cone. */
  chatMs: [number, number];
  error?: string;
}
const runs: Run[] = [];

natDescribe(`${RUNS} runs of cone ↔ random`, (fresh, release) => {

  test(`${RUNS} runs, each on a fresh topology with a fresh server: all connect`, async () => {
    for (let i = 0; i < RUNS; i++) {
      const n = await fresh();
      const pair = await apart("cone", "random")(n);
      try {
        await startServer(n);
        const r = await connectAndChat(n, pair, "cone ↔ random");
        runs.push({ ok: true, ms: r.ms, path: r.path, chatMs: r.chatMs });
      } catch (e) {
        const outputs = n.processes.map((p) => p.output()).join("\n");
        runs.push({ ok: false, ms: Number.NaN, path: "-", chatMs: [Number.NaN, Number.NaN], error: `${String(e).slice(0, 1500)}\n${outputs.slice(-4000)}` });
      } finally {
        await release();
      }
    }
    const ok = runs.filter((r) => r.ok);
    const sorted = ok.map((r) => r.ms).sort((x, y) => x - y);
    const paths = new Map<string, number>();
    for (const r of ok) paths.set(r.path, (paths.get(r.path) ?? 0) + 1);
    const firstLines = ok.map((r) => r.chatMs[0]).sort((x, y) => x - y);
    console.log(
      `cone ↔ random, ${RUNS} runs: ${ok.length}/${RUNS} connected (${((100 * ok.length) / RUNS).toFixed(0)} %); paths ${JSON.stringify(Object.fromEntries(paths))}\n` +
        (sorted.length
          ? `  bob's start -> both connected: min ${fmtMs(sorted[0]!)}, median ${fmtMs(quantile(sorted, 0.5))}, p90 ${fmtMs(quantile(sorted, 0.9))}, max ${fmtMs(sorted.at(-1)!)}\n` +
            `  per run: ${ok.map((r) => Math.round(r.ms)).join(" ")}\n` +
            `  first line cone -> random: median ${fmtMs(quantile(firstLines, 0.5))}, max ${fmtMs(firstLines.at(-1)!)}; ` +
            `stalled (> ${STALL_MS} ms) in ${ok.filter((r) => r.chatMs[0] > STALL_MS).length}/${ok.length} runs: ${ok.filter((r) => r.chatMs[0] > STALL_MS).map((r) => fmtMs(r.chatMs[0])).join(", ") || "none"}`
          : ""),
    );
    for (const r of runs.filter((r) => !r.ok)) console.log(`failed run: ${r.error}`);
    expect(ok.length).toBe(RUNS);
    for (const path of paths.keys()) expect(["direct", "relay→direct", "relay/direct→direct", "direct/relay→direct"]).toContain(path);
  }, 300_000);

  // Both sides can hit more than one colliding port pair; if the cone side picks one
  // and the random side another (and closes the cone side's pick as a spare socket),
  // cone -> random is a black hole until the random side's first keepalive (10 s)
  // moves the peer. A first line that takes seconds on a fresh path is that.
  test(`${RUNS} runs: the spraying side's first line is not stalled (> ${STALL_MS} ms)`, () => {
    const ok = runs.filter((r) => r.ok);
    expect(ok.length).toBe(RUNS);
    const stalled = ok.map((r, i) => ({ run: i + 1, ms: Math.round(r.chatMs[0]) })).filter((r) => r.ms > STALL_MS);
    expect(stalled).toEqual([]);
  });
});
