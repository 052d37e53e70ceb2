// Hostile input: garbage bytes, mutated real packets and absurd but
// well-formed packets. receive() never throws, counts what it drops, and
// keeps its memory bounded (streams, reassembly, session credit).
import { describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import {
  StreamChunkSchema,
  StreamControlSchema,
  TransportAckSchema,
  TransportPacketSchema,
  type TransportPacket,
} from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { DEFAULT_SESSION_WINDOW_BYTES, KiB, MAX_INCOMING_STREAMS, MAX_REASSEMBLY_SEGMENTS, MAX_TRACKED_SENT_PACKETS, type Stream, type TransportStats } from "../src/transport/index.ts";
import { LossyLink } from "./support/lossy-link.ts";
import { prng } from "./support/prng.ts";
import { payload, readAll, writeAll } from "./support/transport-apps.ts";

/** Real packets of a short transfer with loss, as they crossed the link. */
async function capture(): Promise<Uint8Array[]> {
  const seen: Uint8Array[] = [];
  const link = new LossyLink(
    { seed: 21, lossPercent: 10, tap: (b) => (seen.push(b), b) },
    { onStream: (s) => void readAll(s) },
    { onStream: (s) => void readAll(s) },
  );
  const s = link.a.open("fuzz");
  void writeAll(s, payload(100 * KiB));
  const r = link.b.open("back");
  void writeAll(r, payload(20 * KiB));
  link.a.sendDatagram(3, new Uint8Array(10));
  await link.run(() => s.send.done && r.send.done, 60_000);
  return seen;
}

function victim(): { link: LossyLink; streams: Stream[] } {
  const streams: Stream[] = [];
  const link = new LossyLink({ seed: 22, lossPercent: 100 }, {}, { onStream: (s) => void streams.push(s), onDatagram: () => {} });
  const s = link.b.open("mine");
  s.write(payload(10 * KiB));
  return { link, streams };
}

function bounded(st: TransportStats): void {
  expect(st.streams).toBeLessThanOrEqual(2 * MAX_INCOMING_STREAMS + 1);
  expect(st.dataReceived - st.dataConsumed).toBeLessThanOrEqual(DEFAULT_SESSION_WINDOW_BYTES);
  expect(st.trackedPackets).toBeLessThanOrEqual(MAX_TRACKED_SENT_PACKETS); // ACK-only answers pile up: nothing comes back
}

describe("fuzz", () => {
  test("random bytes never throw", async () => {
    const { link } = victim();
    await link.run(() => false, 10);
    const rnd = prng(1);
    for (let i = 0; i < 20_000; i++) {
      const b = new Uint8Array(Math.floor(rnd() * 1300)).map(() => Math.floor(rnd() * 256));
      link.b.receiveBytes(b);
    }
    await link.run(() => false, 5_000);
    const st = link.b.stats;
    expect(st.malformedPackets).toBeGreaterThan(10_000);
    bounded(st);
  });

  test("mutated real packets never throw; memory stays bounded", async () => {
    const corpus = await capture();
    expect(corpus.length).toBeGreaterThan(100);
    const { link, streams } = victim();
    const rnd = prng(2);
    for (let i = 0; i < 20_000; i++) {
      const b = corpus[Math.floor(rnd() * corpus.length)]!.slice();
      let m: Uint8Array = b;
      const kind = Math.floor(rnd() * 5);
      if (kind === 0) {
        for (let k = 0; k < 1 + rnd() * 4; k++) {
          const at = Math.floor(rnd() * m.length);
          m[at] = m[at]! ^ (1 << Math.floor(rnd() * 8));
        }
      }
      else if (kind === 1) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      else if (kind === 2) m = m.subarray(0, Math.floor(rnd() * m.length));
      else if (kind === 3) {
        const at = Math.floor(rnd() * m.length);
        m = Buffer.concat([m.subarray(0, at), new Uint8Array(1 + Math.floor(rnd() * 8)).map(() => Math.floor(rnd() * 256)), m.subarray(at)]);
      } // kind 4: replayed as is
      link.b.receiveBytes(m);
      if (i % 1000 === 0) await link.run(() => false, 50);
    }
    await link.run(() => false, 5_000);
    const st = link.b.stats;
    expect(st.malformedPackets + st.duplicatePackets).toBeGreaterThan(1000);
    bounded(st);
    for (const s of streams) expect(s.recv.segments).toBeLessThanOrEqual(MAX_REASSEMBLY_SEGMENTS);
  });

  test("a flood of plausible packets opening streams and filling windows stays within the session window", async () => {
    const { link } = victim();
    const rnd = prng(3);
    for (let pn = 0; pn < 20_000; pn++) {
      const stream = 2 * Math.floor(rnd() * 3000);
      const offset = Math.floor(rnd() * 1024 * KiB);
      link.b.receive(packet({ number: BigInt(pn), chunks: [create(StreamChunkSchema, { stream, offset: BigInt(offset), data: new Uint8Array(1000), open: "x" })] }));
    }
    await link.run(() => false, 1_000);
    const st = link.b.stats;
    bounded(st);
    expect(st.flowViolations + st.invalidFrames + st.lateFrames).toBeGreaterThan(1000);
  });
});

function packet(init: Partial<Omit<TransportPacket, "$typeName">>): TransportPacket {
  return create(TransportPacketSchema, init);
}

describe("absurd input is dropped and counted", () => {
  type Counter = keyof TransportStats;
  const rows: Array<{ name: string; p: () => TransportPacket; counter: Counter }> = [
    { name: "offset past 2^50", p: () => packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 0, offset: 2n ** 60n, data: new Uint8Array(1) })] }), counter: "malformedPackets" },
    { name: "packet number past 2^53", p: () => packet({ number: 2n ** 60n }), counter: "malformedPackets" },
    { name: "max_data past 2^50", p: () => packet({ number: 1n, maxData: 2n ** 62n }), counter: "malformedPackets" },
    { name: "ACK of packets never sent", p: () => packet({ number: 1n, ack: create(TransportAckSchema, { largest: 500n }) }), counter: "malformedPackets" },
    { name: "ACK covering 2^53 numbers", p: () => packet({ number: 1n, ack: create(TransportAckSchema, { largest: 2n ** 53n - 1n, firstLength: 2n ** 53n - 1n }) }), counter: "malformedPackets" },
    { name: "ACK with 300 ranges", p: () => packet({ number: 1n, ack: create(TransportAckSchema, { largest: 0n, ranges: Array.from({ length: 600 }, () => 0n) }) }), counter: "malformedPackets" },
    { name: "data past the stream window", p: () => packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 0, offset: 5_000_000n, data: new Uint8Array(1) })] }), counter: "flowViolations" },
    { name: "a jump of 2^31 stream ids", p: () => packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 2 ** 31, data: new Uint8Array(1) })] }), counter: "invalidFrames" },
    { name: "a stream of ours never opened", p: () => packet({ number: 1n, controls: [create(StreamControlSchema, { stream: 99, maxOffset: 5n })] }), counter: "invalidFrames" },
    { name: "a second FIN at another size", p: () => packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 0, offset: 0n, data: new Uint8Array(10), fin: true }), create(StreamChunkSchema, { stream: 0, offset: 0n, data: new Uint8Array(5), fin: true })] }), counter: "invalidFrames" },
    { name: "a reset whose final size is below what arrived", p: () => packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 0, data: new Uint8Array(10) })], controls: [create(StreamControlSchema, { stream: 0, reset: 1, maxOffset: 3n })] }), counter: "invalidFrames" },
  ];
  for (const r of rows) {
    test(r.name, async () => {
      const { link } = victim();
      const before = link.b.stats[r.counter] as number;
      expect(() => link.b.receive(r.p())).not.toThrow();
      expect(link.b.stats[r.counter] as number).toBe(before + 1);
      await link.run(() => false, 100);
    });
  }

  test("a duplicate packet is processed once; frames for a finished stream are late", async () => {
    const { link, streams } = victim();
    const p = packet({ number: 0n, chunks: [create(StreamChunkSchema, { stream: 0, data: new Uint8Array([1, 2, 3]), fin: true, open: "t" })] });
    link.b.receive(p);
    link.b.receive(p);
    expect(link.b.stats.duplicatePackets).toBe(1);
    expect(streams.length).toBe(1);
    expect(await streams[0]!.read()).toEqual(new Uint8Array([1, 2, 3]));
    streams[0]!.end();
    streams[0]!.reset(); // both directions over: freed
    link.b.receive(packet({ number: 1n, chunks: [create(StreamChunkSchema, { stream: 0, offset: 3n, fin: true })] }));
    expect(link.b.stats.lateFrames).toBe(1);
  });

  test("a malformed object instead of a packet is counted, not thrown", () => {
    const { link } = victim();
    expect(() => link.b.receive({ number: 1n } as unknown as TransportPacket)).not.toThrow();
    expect(link.b.stats.malformedPackets).toBe(1);
  });
});
