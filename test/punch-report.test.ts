// PunchReport (client -> server): one per introduction token and side, with
// the outcome (direct, relay, failed) and the time since the token's first
// Initiate, sent twice to the current server. Simulated time; the reports
// are read off the wire (whatever the server does with them).
import { describe, expect, test } from "bun:test";
import { connected, SERVER, world, type Peer } from "./support/sim-world.ts";
import { classify, decodePacket } from "../src/protocol/packet.ts";
import { PunchOutcome, type PunchReport } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { equalBytes } from "../src/crypto/kdf.ts";
import { sameAddr } from "../src/net/address.ts";
import { PUNCH_TIMEOUT, RELAY_AFTER, second } from "../src/constants.ts";
import { PunchReports } from "../src/client/punch-report.ts";

/** Records every PunchReport (and Unregister) sent to the server, in order; `block` may drop datagrams. */
function recording(w: ReturnType<typeof world>, block: (from: { ip: string }, to: { ip: string }) => boolean = () => false) {
  const sent: Array<{ at: number; report?: PunchReport; unregister?: boolean; secret: Uint8Array }> = [];
  w.net.tap = (b, from, to) => {
    if (sameAddr(to, SERVER) && classify(b) === "hp") {
      const body = decodePacket(b).body;
      if (body.case === "punchReport") sent.push({ at: w.net.clock.now(), report: body.value, secret: body.value.secret });
      if (body.case === "unregister") sent.push({ at: w.net.clock.now(), unregister: true, secret: body.value.secret });
    }
    return block(from, to) ? null : b;
  };
  /** The reports `p` sent (its registration secret is in them). */
  const of = (p: Peer) => sent.filter((s) => s.report && p.client.server.secret && equalBytes(s.secret, p.client.server.secret)).map((s) => s.report!);
  return { sent, of };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("PunchReport", () => {
  test("a direct connection: one DIRECT report per side (sent twice), same token, elapsed since the first Initiate", () => {
    const w = world();
    const r = recording(w);
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toMatchObject({ path: "direct" });
    const token = hex(bob.client.link!.token);
    for (const p of [alice, bob]) {
      const mine = r.of(p);
      expect(mine.map((x) => [x.outcome, hex(x.token)])).toEqual([
        [PunchOutcome.DIRECT, token],
        [PunchOutcome.DIRECT, token],
      ]);
      // Connected one peer round trip (10 ms) or so after the Initiate arrived.
      expect(mine[0]!.elapsedMs).toBeGreaterThanOrEqual(10);
      expect(mine[0]!.elapsedMs).toBeLessThan(200);
    }
    w.net.clock.advance(30 * second);
    expect(r.sent.filter((s) => s.report)).toHaveLength(4); // nothing more while the session lasts
  });

  test("through the relay: RELAY; the later upgrade to a direct path sends nothing more", () => {
    const w = world();
    let blockDirect = true;
    const r = recording(w, (from, to) => blockDirect && from.ip.startsWith("198.18.1.") && to.ip.startsWith("198.18.1."));
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    expect(connected(bob)).toMatchObject({ path: "relay" });
    blockDirect = false;
    w.net.clock.advance(5 * second);
    expect(bob.events.find((e) => e.event === "path")).toMatchObject({ path: "direct" });
    for (const p of [alice, bob]) {
      const mine = r.of(p);
      expect(mine.map((x) => x.outcome)).toEqual([PunchOutcome.RELAY, PunchOutcome.RELAY]);
      expect(mine[0]!.elapsedMs).toBeGreaterThanOrEqual(RELAY_AFTER);
      expect(mine[0]!.elapsedMs).toBeLessThan(RELAY_AFTER + 500);
    }
  });

  test("random ↔ random: RELAY from both sides", () => {
    const w = world();
    const r = recording(w);
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(alice)).toMatchObject({ path: "relay" });
    for (const p of [alice, bob]) expect(r.of(p).map((x) => x.outcome)).toEqual([PunchOutcome.RELAY, PunchOutcome.RELAY]);
  });

  test("no relay, no path: FAILED when the attempt gives up, once per token even though the initiator retries it", () => {
    const w = world(0, 1, { relay: false });
    const r = recording(w);
    const alice = w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice", undefined, 18 * second);
    w.net.clock.advance(25 * second);
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PUNCH_FAILED" });
    const all = r.sent.filter((s) => s.report).map((s) => s.report!);
    expect(all.length).toBeGreaterThan(0);
    expect(new Set(all.map((x) => hex(x.token))).size).toBe(1);
    expect(all.every((x) => x.outcome === PunchOutcome.FAILED)).toBe(true);
    // One report (two copies) per side; the punch timeout measured from the first Initiate.
    expect(all).toHaveLength(4);
    for (const x of all) expect(Math.abs(x.elapsedMs - PUNCH_TIMEOUT)).toBeLessThan(200);
    expect(alice.events.some((e) => e.event === "connected")).toBe(false);
  });

  test("the initiator gives up (--timeout) while punching: FAILED, sent before its Unregister", () => {
    const w = world(0, 1, { relay: false });
    const r = recording(w);
    w.peer("alice", "random");
    const bob = w.peer("bob", "random", "alice", undefined, 5 * second);
    w.net.clock.advance(6 * second);
    expect(bob.exit).toBe(9);
    const fromBob = r.sent.filter((s) => s.at >= 5 * second);
    expect(fromBob.map((s) => (s.unregister ? "unregister" : s.report!.outcome))).toEqual([PunchOutcome.FAILED, PunchOutcome.FAILED, "unregister", "unregister"]);
    expect(Math.abs(fromBob[0]!.report!.elapsedMs - 5 * second)).toBeLessThan(200);
  });

  test("bookkeeping: the first outcome per token wins; elapsed from the first Initiate", () => {
    const reports = new PunchReports();
    const t = new Uint8Array(16).fill(7);
    reports.initiated(t, 100);
    reports.initiated(t, 900); // a repeated Initiate does not restart the clock
    expect(reports.outcome(t, PunchOutcome.RELAY, 1600)).toEqual({ token: t, outcome: PunchOutcome.RELAY, elapsedMs: 1500 });
    expect(reports.outcome(t, PunchOutcome.DIRECT, 2000)).toBeUndefined();
    // Bounded: old tokens are forgotten.
    for (let i = 0; i < 300; i++) reports.initiated(Uint8Array.of(i & 0xff, i >> 8), i);
    expect(reports.outcome(Uint8Array.of(0, 0), PunchOutcome.FAILED, 1000)).toEqual({ token: Uint8Array.of(0, 0), outcome: PunchOutcome.FAILED, elapsedMs: 0 });
  });
});
