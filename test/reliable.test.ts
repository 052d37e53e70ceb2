// Reliable chat chunks: chunking, in-order reassembly under reordering and
// duplication, cumulative acks, retransmission deadlines.
import { expect, test } from "bun:test";
import { MAX_CHUNK_BYTES, MAX_LINE_BYTES } from "../src/constants.ts";
import { chunkLine, ReliableReceiver, ReliableSender, type Chunk } from "../src/client/reliable.ts";

test("chunkLine: an empty line is one empty chunk; long lines split at the chunk size", () => {
  expect(chunkLine("")).toEqual([{ data: new Uint8Array(), last: true }]);
  const parts = chunkLine("x".repeat(MAX_CHUNK_BYTES * 2 + 1));
  expect(parts.map((p) => [p.data.length, p.last])).toEqual([
    [MAX_CHUNK_BYTES, false],
    [MAX_CHUNK_BYTES, false],
    [1, true],
  ]);
});

test("receiver delivers in order despite reordering and duplicates", () => {
  const s = new ReliableSender(10);
  for (const l of ["one", "two", "three", "four"]) s.enqueue(l);
  const chunks = s.due(0);
  const r = new ReliableReceiver();
  const order = [2, 0, 0, 3, 1, 2];
  const got = order.flatMap((i) => r.accept(chunks[i]!));
  expect(got).toEqual(["one", "two", "three", "four"]);
  expect(r.cumulative).toBe(4n);
});

test("sender: window, cumulative ack, retransmission after the RTO", () => {
  const s = new ReliableSender(100); // rto = srtt + 4*rttvar = 300 ms
  for (let i = 0; i < 100; i++) s.enqueue(`line ${i}`);
  const first = s.due(0);
  expect(first).toHaveLength(64); // MESSAGE_WINDOW in flight
  expect(s.due(10)).toHaveLength(0);
  s.ack(10n, 50);
  expect(s.due(50).map((c) => c.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 65n + BigInt(i)));
  expect(s.nextDeadline()).toBeLessThanOrEqual(300); // RTT samples of 50 ms shrank the RTO
  const again = s.due(300);
  expect(again[0]!.seq).toBe(11n); // the unacked ones come back
  expect(s.unacked).toBe(90 + 0);
});

test("a line that never ends is delivered in 1 MiB pieces, not buffered forever", () => {
  const r = new ReliableReceiver();
  const data = new Uint8Array(MAX_CHUNK_BYTES).fill(97);
  let seq = 1n;
  const out: string[] = [];
  for (let i = 0; i * MAX_CHUNK_BYTES < MAX_LINE_BYTES + MAX_CHUNK_BYTES; i++) {
    const c: Chunk = { seq: seq++, data, last: false };
    out.push(...r.accept(c));
  }
  expect(out).toHaveLength(1);
  expect(out[0]!.length).toBeGreaterThanOrEqual(MAX_LINE_BYTES);
});
