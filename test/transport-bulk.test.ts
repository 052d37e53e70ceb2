// Bulk transfers through the transport in simulated time (ManualClock, lossy
// in-memory link): 20 MiB byte-identical through 10 % loss each way, the same
// on a clean link for goodput, and 8 concurrent streams interleaved.
import { describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { TransportPacketSchema } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { MAX_TRANSPORT_PACKET_BYTES, MiB, type Stream } from "../src/transport/index.ts";
import { LossyLink } from "./support/lossy-link.ts";
import { payload, readAll, sha256, writeAll, type ReadResult } from "./support/transport-apps.ts";

async function bulk(size: number, lossPercent: number, seed: number) {
  const data = payload(size, seed);
  let result: ReadResult | undefined;
  let label = "";
  // At every ack-eliciting packet A sends (PTO probes aside): bytes in flight within the window.
  let cwndOvershoot = -Infinity;
  let probes = 0;
  const tap = (bytes: Uint8Array, from: "a" | "b") => {
    if (from !== "a") return bytes;
    const st = link.a.stats;
    const p = fromBinary(TransportPacketSchema, bytes);
    if (st.probesSent === probes && (p.chunks.length > 0 || p.controls.length > 0 || p.maxData > 0n)) {
      cwndOvershoot = Math.max(cwndOvershoot, st.bytesInFlight - st.cwnd);
    }
    probes = st.probesSent;
    return bytes;
  };
  const link: LossyLink = new LossyLink(
    { seed, delayMs: 20, jitterMs: 10, reorderPercent: lossPercent > 0 ? 3 : 0, lossPercent, tap },
    {},
    {
      onStream: (s, l) => {
        label = l;
        void readAll(s).then((r) => (result = r));
      },
    },
  );
  const cpu = performance.now();
  const s = link.a.open("bulk");
  let finished = false;
  void writeAll(s, data)
    .then(() => s.finished())
    .then(() => (finished = true));
  const end = await link.run(() => finished && result !== undefined, 3_600_000);
  return { data, result, label, finished, simMs: end, cpuMs: performance.now() - cpu, link, cwndOvershoot, stream: s };
}

describe("bulk", () => {
  test("20 MiB through one stream, 10 % loss each way, 20 ms delay, reordering: byte-identical, FIN, sender done", async () => {
    const r = await bulk(20 * MiB, 10, 3);
    expect(r.label).toBe("bulk");
    expect(r.result?.bytes).toBe(20 * MiB);
    expect(r.result?.sha256).toBe(sha256(r.data));
    expect(r.result?.fin).toBe(true);
    expect(r.finished).toBe(true);
    const a = r.link.a.stats;
    expect(r.link.lost.a).toBeGreaterThan(1500);
    expect(a.packetsLost).toBeGreaterThanOrEqual(r.link.lost.a * 0.9);
    expect(a.bytesRetransmitted).toBeGreaterThan(1 * MiB);
    expect(r.link.largestPacket).toBeLessThanOrEqual(MAX_TRANSPORT_PACKET_BYTES);
    expect(r.cwndOvershoot).toBeLessThanOrEqual(0); // outside PTO probes, never more than the window in flight
    expect(r.cwndOvershoot).toBeGreaterThan(-Infinity);
    expect(a.malformedPackets + r.link.b.stats.malformedPackets).toBe(0);
    console.log(
      `20 MiB, 10 % loss each way: ${(r.simMs / 1000).toFixed(1)} s simulated, goodput ${((20 * MiB) / (r.simMs / 1000) / 1024).toFixed(0)} KiB/s, ` +
        `cpu ${r.cpuMs.toFixed(0)} ms, sent ${a.packetsSent} packets, lost ${a.packetsLost}, retransmitted ${(a.bytesRetransmitted / MiB).toFixed(2)} MiB, srtt ${a.srtt.toFixed(1)} ms`,
    );
  }, 60_000);

  test("20 MiB on a clean link: goodput bounded by the windows, not by the transport", async () => {
    const r = await bulk(20 * MiB, 0, 4);
    expect(r.result?.sha256).toBe(sha256(r.data));
    expect(r.link.a.stats.packetsLost).toBe(0);
    const goodput = (20 * MiB) / (r.simMs / 1000);
    expect(goodput).toBeGreaterThan(5 * MiB); // 1 MiB window per ~40 ms RTT
    console.log(`20 MiB, clean link: ${(r.simMs / 1000).toFixed(2)} s simulated, goodput ${(goodput / MiB).toFixed(1)} MiB/s, cpu ${r.cpuMs.toFixed(0)} ms`);
  }, 60_000);

  test("8 concurrent streams of 1 MiB, both sides opening, 5 % loss, 2 % duplication: each intact, interleaved", async () => {
    const results = new Map<number, ReadResult>();
    const firstByteAt = new Map<number, number>();
    const doneAt = new Map<number, number>();
    const expected = new Map<number, string>();
    let link!: LossyLink;
    const accept = (s: Stream, label: string) => {
      expect(label).toBe(`s${s.id}`);
      void readAll(s, () => void (firstByteAt.has(s.id) || firstByteAt.set(s.id, link.clock.now()))).then((r) => {
        results.set(s.id, r);
        doneAt.set(s.id, link.clock.now());
      });
    };
    link = new LossyLink({ seed: 8, delayMs: 20, jitterMs: 10, reorderPercent: 3, lossPercent: 5, duplicatePercent: 2 }, { onStream: accept }, { onStream: accept });
    let written = 0;
    for (let i = 0; i < 8; i++) {
      const side = i % 2 === 0 ? link.a : link.b;
      const s = side.open(`s${i}`);
      expect(s.id).toBe(i); // a: 0, 2, 4, 6; b: 1, 3, 5, 7
      const data = payload(MiB, 100 + i);
      expected.set(s.id, sha256(data));
      void writeAll(s, data, 16 * 1024).then(() => written++);
    }
    await link.run(() => results.size === 8, 600_000);
    for (const [id, r] of results) expect({ id, sha: r.sha256, fin: r.fin }).toEqual({ id, sha: expected.get(id)!, fin: true });
    // Interleaved: every stream got its first bytes before any stream was complete.
    const firstDone = Math.min(...doneAt.values());
    expect(Math.max(...firstByteAt.values())).toBeLessThan(firstDone);
    expect(link.a.stats.duplicatePackets + link.b.stats.duplicatePackets).toBeGreaterThan(10);
  }, 60_000);
});
