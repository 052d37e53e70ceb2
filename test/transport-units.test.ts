// Transport building blocks with known inputs and outputs: ACK range
// encoding (QUIC's), the ACK schedule, RTT estimation (RFC 9002 §5), loss
// detection and PTO (§6), NewReno (§7), exact wire sizes, reassembly and the
// send buffer.
import { describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { TransportAckSchema, TransportPacketSchema } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { AckState, decodeAckRanges, encodeAckRanges, type PnRange } from "../src/transport/ack-ranges.ts";
import { NewReno } from "../src/transport/congestion.ts";
import { Recovery, type SentPacket } from "../src/transport/recovery.ts";
import { RttEstimator } from "../src/transport/rtt.ts";
import { IntervalSet } from "../src/transport/interval-set.ts";
import { RecvBuffer } from "../src/transport/recv-buffer.ts";
import { SendBuffer } from "../src/transport/send-buffer.ts";
import { MAX_ACK_RANGES_ACCEPTED } from "../src/transport/constants.ts";
import { utf8Length } from "../src/transport/stream-send.ts";
import { prng } from "./support/prng.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("ACK ranges (RFC 9000 §19.3.1)", () => {
  const rows: Array<{ name: string; ranges: PnRange[]; largest: number; first: number; pairs: number[] }> = [
    { name: "one number", ranges: [{ lo: 0, hi: 0 }], largest: 0, first: 0, pairs: [] },
    { name: "one run", ranges: [{ lo: 10, hi: 20 }], largest: 20, first: 10, pairs: [] },
    { name: "one missing between", ranges: [{ lo: 100, hi: 100 }, { lo: 98, hi: 98 }], largest: 100, first: 0, pairs: [0, 0] },
    {
      name: "{0..5, 8..9, 12}",
      ranges: [{ lo: 12, hi: 12 }, { lo: 8, hi: 9 }, { lo: 0, hi: 5 }],
      largest: 12,
      first: 0,
      pairs: [1, 1, 1, 5],
    },
    {
      name: "wide gaps",
      ranges: [{ lo: 1000, hi: 1005 }, { lo: 3, hi: 500 }, { lo: 0, hi: 1 }],
      largest: 1005,
      first: 5,
      pairs: [498, 497, 0, 1],
    },
  ];
  for (const r of rows) {
    test(`encode / decode: ${r.name}`, () => {
      expect(encodeAckRanges(r.ranges)).toEqual({ largest: r.largest, firstLength: r.first, ranges: r.pairs });
      expect(decodeAckRanges(BigInt(r.largest), BigInt(r.first), r.pairs.map(BigInt))).toEqual(r.ranges);
    });
  }

  test("known bytes: packet 7 acknowledging {0..5, 8..9, 12}", () => {
    const ack = create(TransportAckSchema, { largest: 12n, firstLength: 0n, ranges: [1n, 1n, 1n, 5n] });
    const p = create(TransportPacketSchema, { number: 7n, ack });
    expect(hex(toBinary(TransportPacketSchema, p))).toBe("0807" + "1208" + "080c" + "220401010105");
  });

  const bad: Array<{ name: string; largest: bigint; first: bigint; pairs: bigint[] }> = [
    { name: "odd pair count", largest: 5n, first: 0n, pairs: [1n] },
    { name: "first range below zero", largest: 5n, first: 6n, pairs: [] },
    { name: "gap below zero", largest: 5n, first: 0n, pairs: [4n, 0n] },
    { name: "length below zero", largest: 5n, first: 0n, pairs: [0n, 4n] },
    { name: "largest past 2^53", largest: 2n ** 64n - 1n, first: 0n, pairs: [] },
    { name: "huge gap", largest: 5n, first: 0n, pairs: [2n ** 63n, 0n] },
    { name: "too many ranges", largest: 10_000n, first: 0n, pairs: Array.from({ length: 2 * (MAX_ACK_RANGES_ACCEPTED + 1) }, () => 0n) },
  ];
  for (const b of bad) {
    test(`decode rejects: ${b.name}`, () => {
      expect(decodeAckRanges(b.largest, b.first, b.pairs)).toBeUndefined();
    });
  }

  test("random sets round-trip", () => {
    const rnd = prng(11);
    for (let n = 0; n < 200; n++) {
      const ranges: PnRange[] = [];
      let hi = 1 + Math.floor(rnd() * 1e6);
      while (hi >= 0 && ranges.length < 40) {
        const lo = Math.max(0, hi - Math.floor(rnd() * 50));
        ranges.push({ lo, hi });
        hi = lo - 2 - Math.floor(rnd() * 100);
      }
      const f = encodeAckRanges(ranges);
      expect(decodeAckRanges(BigInt(f.largest), BigInt(f.firstLength), f.ranges.map(BigInt))).toEqual(ranges);
    }
  });
});

describe("ACK schedule (RFC 9000 §13.2.1)", () => {
  test("one ack-eliciting packet waits max_ack_delay; the second makes the ACK immediate", () => {
    const a = new AckState(25);
    expect(a.onReceived(0, true, 100)).toBe(true);
    expect(a.deadline).toBe(125);
    expect(a.due(124)).toBe(false);
    expect(a.due(125)).toBe(true);
    a.onReceived(1, true, 110);
    expect(a.immediate).toBe(true);
    expect(a.build(110)!.fields).toEqual({ largest: 1, firstLength: 1, ranges: [] });
  });

  test("a gap or a reordered packet is acknowledged at once; duplicates are refused", () => {
    const a = new AckState(25);
    a.onReceived(0, true, 0);
    a.onAckSent();
    a.onReceived(2, true, 1); // 1 missing
    expect(a.immediate).toBe(true);
    a.onAckSent();
    a.onReceived(1, true, 2); // late
    expect(a.immediate).toBe(true);
    expect(a.onReceived(1, true, 3)).toBe(false);
    expect(a.build(3)!.fields).toEqual({ largest: 2, firstLength: 2, ranges: [] });
  });

  test("packets that elicit no ACK are reported but never make one due", () => {
    const a = new AckState(25);
    a.onReceived(0, false, 0);
    expect(a.pending).toBe(true);
    expect(a.due(1000)).toBe(false);
    expect(a.deadline).toBeUndefined();
  });

  test("ack delay is reported in microseconds from the largest's arrival", () => {
    const a = new AckState(25);
    a.onReceived(0, true, 10);
    expect(a.build(22.5)!.delayUs).toBe(12_500);
  });

  test("ranges the peer has seen acknowledged are no longer reported; at most 32 ranges go out", () => {
    const a = new AckState(25);
    for (let pn = 0; pn < 200; pn += 2) a.onReceived(pn, true, 0); // 100 single ranges
    const full = a.build(0)!.fields;
    expect(full.largest).toBe(198);
    expect(full.ranges.length / 2 + 1).toBe(32);
    a.onAckAcknowledged(190);
    expect(a.build(0)!.fields).toEqual({ largest: 198, firstLength: 0, ranges: [0, 0, 0, 0, 0, 0] }); // 198, 196, 194, 192
    a.onAckAcknowledged(198);
    expect(a.build(0)).toBeUndefined();
  });
});

describe("RTT estimator (RFC 9002 §5)", () => {
  const rows: Array<{ name: string; samples: Array<[number, number]>; srtt: number; rttvar: number; min: number; pto: number }> = [
    { name: "before any sample", samples: [], srtt: 333, rttvar: 166.5, min: 0, pto: 333 + 666 + 25 },
    { name: "first sample", samples: [[100, 5]], srtt: 100, rttvar: 50, min: 100, pto: 100 + 200 + 25 },
    { name: "ack delay subtracted", samples: [[100, 0], [120, 10]], srtt: 101.25, rttvar: 40, min: 100, pto: 101.25 + 160 + 25 },
    {
      name: "ack delay capped at max_ack_delay, never below min_rtt",
      samples: [[100, 0], [120, 10], [90, 50]],
      srtt: 99.84375,
      rttvar: 32.8125,
      min: 90,
      pto: 99.84375 + 131.25 + 25,
    },
    { name: "steady samples converge", samples: Array.from({ length: 60 }, () => [40, 0] as [number, number]), srtt: 40, rttvar: 0, min: 40, pto: 40 + 1 + 25 },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const e = new RttEstimator();
      for (const [latest, delay] of r.samples) e.update(latest, delay, 25);
      expect(e.smoothed).toBeCloseTo(r.srtt, 5);
      expect(e.rttvar).toBeCloseTo(r.rttvar, 5);
      expect(e.min).toBe(r.min);
      expect(e.pto(25)).toBeCloseTo(r.pto, 5);
    });
  }
});

describe("NewReno (RFC 9002 §7)", () => {
  test("slow start, app-limited, recovery period, congestion avoidance, persistent congestion", () => {
    const cc = new NewReno(1000);
    const steps: Array<[string, () => void, number, number]> = [
      ["initial window: 10 packets", () => {}, 10_000, Infinity],
      ["5 acked in slow start: +1 packet each", () => { for (let i = 0; i < 5; i++) { cc.onSent(1000); cc.onAcked(1000, 0, false); } }, 15_000, Infinity],
      ["app-limited ACK: no growth", () => { cc.onSent(1000); cc.onAcked(1000, 1, true); }, 15_000, Infinity],
      ["loss: halve", () => cc.onCongestionEvent(10, 100), 7_500, 7_500],
      ["ACK of a packet sent before recovery: no growth", () => { cc.onSent(1000); cc.onAcked(1000, 50, false); }, 7_500, 7_500],
      ["another loss from before recovery: ignored", () => cc.onCongestionEvent(90, 120), 7_500, 7_500],
      ["congestion avoidance: + max_datagram * acked / cwnd", () => { cc.onSent(1000); cc.onAcked(1000, 150, false); }, 7_500 + 1000 * 1000 / 7_500, 7_500],
      ["loss after recovery: halve again", () => cc.onCongestionEvent(200, 300), (7_500 + 1000 * 1000 / 7_500) / 2, (7_500 + 1000 * 1000 / 7_500) / 2],
      ["persistent congestion: minimum window", () => cc.onPersistentCongestion(), 2_000, (7_500 + 1000 * 1000 / 7_500) / 2],
      ["a loss never takes the window below the minimum", () => cc.onCongestionEvent(400, 500), 2_000, 1_000],
    ];
    for (const [name, act, cwnd, ssthresh] of steps) {
      act();
      expect({ name, cwnd: cc.cwnd, ssthresh: cc.ssthresh }).toEqual({ name, cwnd, ssthresh });
    }
    expect(cc.bytesInFlight).toBe(0);
  });

  test("canSend keeps bytes in flight within the window", () => {
    const cc = new NewReno(1000);
    let sent = 0;
    while (cc.canSend(1000)) {
      cc.onSent(1000);
      sent++;
    }
    expect(sent).toBe(10);
    cc.onLost(1000);
    expect(cc.canSend(1000)).toBe(true);
  });
});

function packet(pn: number, t: number, size = 1000): SentPacket {
  return { pn, timeSent: t, size, ackEliciting: true, chunks: [], controls: [], maxData: false, datagrams: 0, ackLargest: -1 };
}

describe("loss detection and PTO (RFC 9002 §6)", () => {
  test("packet threshold, then time threshold, then the window reacts once", () => {
    const r = new Recovery(1000, 25);
    for (let pn = 0; pn < 6; pn++) r.onSent(packet(pn, pn));
    expect(r.cc.bytesInFlight).toBe(6000);
    const out = r.onAck([{ lo: 5, hi: 5 }], 0, 100, false)!;
    expect(out.acked.map((p) => p.pn)).toEqual([5]);
    expect(out.lost.map((p) => p.pn)).toEqual([0, 1, 2]); // 5 >= pn + 3
    expect(r.rtt.smoothed).toBe(95);
    expect(r.deadline()).toBeCloseTo(3 + (9 / 8) * 95, 9); // pn 3 by time threshold
    expect(r.onTimeout(111)).toEqual({ lost: [packet(3, 3), packet(4, 4)], probe: false });
    expect(r.cc.cwnd).toBe(5_000); // one halving for the whole episode
    expect(r.cc.bytesInFlight).toBe(0);
    expect(r.deadline()).toBeUndefined();
  });

  test("PTO: srtt + 4 rttvar + max_ack_delay, doubling each time, reset by an ACK", () => {
    const r = new Recovery(1000, 25);
    r.onSent(packet(0, 0));
    expect(r.deadline()).toBe(1024);
    expect(r.onTimeout(1024)).toEqual({ lost: [], probe: true });
    expect(r.deadline()).toBe(2048);
    r.onSent(packet(1, 2048));
    expect(r.deadline()).toBe(2048 + 2048);
    r.onAck([{ lo: 1, hi: 1 }], 0, 2148, false);
    expect(r.ptoCount).toBe(0);
    expect(r.rtt.smoothed).toBe(100);
  });

  test("an ACK of a number never sent is refused", () => {
    const r = new Recovery(1000, 25);
    r.onSent(packet(0, 0));
    expect(r.onAck([{ lo: 0, hi: 1 }], 0, 10, false)).toBeUndefined();
    expect(r.onAck([{ lo: 0, hi: 2 ** 50 }], 0, 10, false)).toBeUndefined();
  });

  test("persistent congestion: losses spanning 3 PTOs with nothing acknowledged between", () => {
    const r = new Recovery(1000, 25);
    r.onSent(packet(0, 0));
    r.onAck([{ lo: 0, hi: 0 }], 0, 100, false); // srtt 100, rttvar 50: duration (100 + 200 + 25) * 3 = 975
    for (let pn = 1; pn <= 4; pn++) r.onSent(packet(pn, 100 + (pn - 1) * 400)); // 100 .. 1300
    r.onSent(packet(5, 1400));
    const out = r.onAck([{ lo: 5, hi: 5 }], 0, 1500, false)!;
    expect(out.lost.map((p) => p.pn)).toEqual([1, 2, 3, 4]); // 100 .. 1300: longer than (100 + 4 * 37.5 + 25) * 3 = 825
    // Minimum window (2 packets); then, as in RFC 9002 B.8 (the recovery start is reset),
    // the ACK that revealed the losses grows it by one packet in slow start.
    expect([r.cc.cwnd, r.cc.ssthresh]).toEqual([3_000, 5_500]);
  });
});

describe("wire sizes are exact", () => {
  test("drafts of random packets encode to exactly their computed size", async () => {
    const { PacketDraft } = await import("../src/transport/packet.ts");
    const rnd = prng(5);
    const big = () => Math.floor(rnd() * 2 ** (rnd() * 50));
    for (let n = 0; n < 500; n++) {
      const d = new PacketDraft(big(), 1100, 0);
      if (rnd() < 0.7) d.addAck({ largest: 5000 + big(), firstLength: Math.floor(rnd() * 5000), ranges: Array.from({ length: 2 * Math.floor(rnd() * 5) }, () => Math.floor(rnd() * 300)) }, Math.floor(rnd() * 2 ** 32));
      for (let i = rnd() * 4; i > 0; i--) d.addControl({ kind: "reset", stream: Math.floor(rnd() * 2 ** 32), code: 1 + Math.floor(rnd() * 1000), finalSize: big() }, big());
      if (rnd() < 0.3) d.addMaxData(big());
      for (let i = rnd() * 3; i > 0; i--) d.addDatagram(Math.floor(rnd() * 2 ** 32), new Uint8Array(Math.floor(rnd() * 300)));
      for (let i = rnd() * 3; i > 0; i--) {
        const open = rnd() < 0.3 ? "tcp:é€😀\ud800x" : "";
        d.addChunk(Math.floor(rnd() * 2 ** 32), big(), new Uint8Array(Math.floor(rnd() * 400)), rnd() < 0.5, open, utf8Length(open));
      }
      if (rnd() < 0.2) d.addPing();
      const m = d.message();
      expect(toBinary(TransportPacketSchema, m).length).toBe(d.size);
    }
  });
});

describe("interval set", () => {
  test("add merges touching ranges, remove splits, holes are the complement", () => {
    const s = new IntervalSet();
    expect(s.add(10, 20)).toBe(10);
    expect(s.add(30, 40)).toBe(10);
    expect(s.add(20, 30)).toBe(10); // joins both
    expect([s.count, s.start(0), s.end(0)]).toEqual([1, 10, 40]);
    expect(s.add(5, 45)).toBe(10);
    s.remove(15, 25);
    expect([s.count, s.start(0), s.end(0), s.start(1), s.end(1)]).toEqual([2, 5, 15, 25, 45]);
    const holes: number[][] = [];
    s.forEachHole(0, 50, (a, b) => holes.push([a, b]));
    expect(holes).toEqual([[0, 5], [15, 25], [45, 50]]);
    expect([s.has(14), s.has(15), s.covers(25, 45), s.covers(10, 30)]).toEqual([true, false, true, false]);
  });
});

describe("reassembly", () => {
  test("out of order, overlapping and duplicate pieces come out in order, once", () => {
    const rnd = prng(9);
    for (let round = 0; round < 50; round++) {
      const data = new Uint8Array(5000).map(() => Math.floor(rnd() * 256));
      const r = new RecvBuffer();
      const out: Uint8Array[] = [];
      let covered = 0;
      while (r.delivered < data.length) {
        const a = Math.floor(rnd() * data.length);
        const b = Math.min(data.length, a + 1 + Math.floor(rnd() * 600));
        expect(r.insert(a, data.subarray(a, b), out)).toBe(true);
        covered++;
      }
      const got = Buffer.concat(out);
      expect(got.equals(Buffer.from(data))).toBe(true);
      expect(r.segments).toBe(0);
      expect(covered).toBeGreaterThan(0);
    }
  });
});

describe("send buffer", () => {
  test("lost ranges come back (minus what was acknowledged), buffered drops as the front is acked", () => {
    const b = new SendBuffer();
    b.write(new Uint8Array(3000).fill(1));
    b.write(new Uint8Array(3000).fill(2));
    b.end();
    const f1 = b.takeNew(2000);
    const f2 = b.takeNew(2000); // spans both writes: a copy
    const f3 = b.takeNew(5000);
    expect([f1.offset, f2.offset, f3.offset, f3.data.length, b.takeFin(6000)]).toEqual([0, 2000, 4000, 2000, true]);
    expect([f2.data[999], f2.data[1000]]).toEqual([1, 2]);
    b.onAcked(2500, 1000, false); // part of f2, out of order
    b.onLost(2000, 2000, false); // f2 lost
    b.onLost(4000, 2000, true); // f3 lost, with the FIN
    expect(b.fin).toBe("pending");
    expect(b.takeLost(10_000)).toEqual({ offset: 2000, data: new Uint8Array(500).fill(1) });
    const rest = b.takeLost(10_000)!; // [3500, 4000) and [4000, 6000) touch: one range
    expect([rest.offset, rest.data.length, rest.data[0], rest.data[2499]]).toEqual([3500, 2500, 2, 2]);
    expect(b.takeLost(10_000)).toBeUndefined();
    expect(b.buffered).toBe(6000);
    b.onAcked(0, 2000, false);
    b.onAcked(2000, 4000, true);
    expect([b.buffered, b.done]).toEqual([0, true]);
  });
});
