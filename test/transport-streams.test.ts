// Stream semantics in simulated time: half-close, reset, refuse, flow control
// with a slow reader, datagrams, a dead link, close().
import { describe, expect, test } from "bun:test";
import {
  INITIAL_SESSION_WINDOW_BYTES,
  KiB,
  MAX_INCOMING_STREAMS,
  MAX_TRACKED_SENT_PACKETS,
  MiB,
  REFUSED_DEFAULT,
  type Stream,
  type TransportError,
} from "../src/transport/index.ts";
import { LossyLink } from "./support/lossy-link.ts";
import { payload, readAll, sha256, writeAll, type ReadResult } from "./support/transport-apps.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (r: Uint8Array[]) => dec.decode(Buffer.concat(r));

async function collect(s: Stream): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of s) out.push(c);
  return out;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    return e as TransportError;
  }
  throw new Error("expected a rejection");
}

describe("half-close", () => {
  test("each side ends its own direction; the other keeps writing; both streams are freed", async () => {
    let reply: Promise<void> | undefined;
    const link = new LossyLink(
      { seed: 1, lossPercent: 5 },
      {},
      {
        onStream: (s) => {
          reply = (async () => {
            const got = text(await collect(s)); // until A's FIN
            s.write(enc.encode(`echo: ${got}`));
            s.write(enc.encode(" (bye)"));
            s.end();
          })();
        },
      },
    );
    const s = link.a.open("echo");
    s.write(enc.encode("hello "));
    s.write(enc.encode("world"));
    s.end();
    expect(() => s.write(enc.encode("late"))).toThrow(expect.objectContaining({ code: "STREAM_ENDED" }));
    let answer = "";
    void collect(s).then((c) => (answer = text(c)));
    await link.run(() => answer !== "" && link.a.stats.streams === 0 && link.b.stats.streams === 0, 60_000);
    await reply;
    expect(answer).toBe("echo: hello world (bye)");
    expect([link.a.stats.streams, link.b.stats.streams]).toEqual([0, 0]);
    await s.finished();
  });
});

describe("reset", () => {
  test("the reader resets mid-transfer: the writer sees STREAM_RESET with the code; credit comes back", async () => {
    let readerError: unknown;
    const link = new LossyLink(
      { seed: 2, lossPercent: 5 },
      {},
      {
        onStream: (s, label) => {
          if (label === "big") {
            let n = 0;
            void readAll(s, (c) => {
              n += c.length;
              if (n > 300 * KiB) s.reset(42);
            }).then((r) => (readerError = r.error));
            return;
          }
          void readAll(s).then((r) => (second = r));
        },
      },
    );
    let second: ReadResult | undefined;
    const s = link.a.open("big");
    const written = writeAll(s, payload(4 * MiB));
    const err = failure(written);
    await link.run(() => s.error !== undefined && link.a.stats.streams === 0 && link.b.stats.streams === 0, 60_000);
    const e = await err;
    expect([e.code, (e as unknown as { resetCode: number }).resetCode, (e as unknown as { byPeer: boolean }).byPeer]).toEqual(["STREAM_RESET", 42, true]);
    expect((readerError as TransportError).code).toBe("STREAM_RESET");
    expect((await failure(s.finished())).code).toBe("STREAM_RESET");
    expect((await failure(s.read())).code).toBe("STREAM_RESET");
    // Both ends agree on the session's bytes: what A counts as sent, B counts as received and consumed.
    const a = link.a.stats;
    const b = link.b.stats;
    expect(a.dataSent).toBe(b.dataReceived);
    expect(b.dataConsumed).toBe(b.dataReceived);
    // ...so the whole session window is free again: a second stream runs at full credit.
    expect(a.peerMaxData - a.dataSent).toBeGreaterThanOrEqual(INITIAL_SESSION_WINDOW_BYTES);
    const data = payload(2 * MiB, 9);
    const s2 = link.a.open("second");
    void writeAll(s2, data);
    await link.run(() => second !== undefined, 60_000);
    expect(second!.sha256).toBe(sha256(data));
  });

  test("the writer resets: the reader's iteration fails with the peer's code, unread data is dropped", async () => {
    let got: ReadResult | undefined;
    const link = new LossyLink({ seed: 3 }, {}, { onStream: (s) => void readAll(s).then((r) => (got = r)) });
    const s = link.a.open("x");
    s.write(payload(100 * KiB));
    await link.run(() => link.b.stats.dataReceived > 50 * KiB, 10_000);
    s.reset(7);
    expect(() => s.write(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "STREAM_RESET" }));
    await link.run(() => got !== undefined && link.a.stats.streams === 0 && link.b.stats.streams === 0, 10_000);
    const e = got!.error as TransportError & { resetCode: number; byPeer: boolean };
    expect([e.code, e.resetCode, e.byPeer, got!.fin]).toEqual(["STREAM_RESET", 7, true, false]);
    expect(link.a.stats.dataSent).toBe(link.b.stats.dataReceived);
  });

  test("bad reset codes are refused", () => {
    const link = new LossyLink();
    const s = link.a.open();
    expect(() => s.reset(0)).toThrow(expect.objectContaining({ code: "BAD_ARGUMENT" }));
    expect(() => s.reset(2 ** 32)).toThrow(expect.objectContaining({ code: "BAD_ARGUMENT" }));
  });
});

describe("refuse", () => {
  test("refused by returning false, or with a code; accepted ones work; no handler refuses all", async () => {
    const seen: string[] = [];
    const link = new LossyLink(
      { seed: 4, lossPercent: 5 },
      {},
      {
        onStream: (s, label) => {
          seen.push(label);
          if (label === "nope") return false;
          if (label === "tcp:db") return s.refuse(7);
          void collect(s).then((c) => (ok = text(c)));
        },
      },
    );
    let ok = "";
    const nope = link.a.open("nope");
    nope.write(payload(200 * KiB)); // data in flight when the refusal comes
    const db = link.a.open("tcp:db");
    const fine = link.a.open("chat");
    fine.write(enc.encode("hi"));
    fine.end();
    const eNope = failure(nope.finished());
    const eDb = failure(db.read());
    await link.run(() => ok !== "" && link.a.stats.streams === 1 && link.b.stats.streams === 1, 30_000);
    const a = (await eNope) as TransportError & { refuseCode: number; byPeer: boolean };
    const b = (await eDb) as TransportError & { refuseCode: number };
    expect([a.code, a.refuseCode, a.byPeer, b.code, b.refuseCode]).toEqual(["STREAM_REFUSED", REFUSED_DEFAULT, true, "STREAM_REFUSED", 7]);
    expect(seen).toEqual(["nope", "tcp:db", "chat"]);
    expect(ok).toBe("hi");
    expect(link.a.stats.dataSent).toBe(link.b.stats.dataReceived);

    // B opens towards A, which has no onStream: refused.
    const back = link.b.open("anything");
    const e = failure(back.read());
    await link.run(() => back.error !== undefined, 10_000);
    expect((await e).code).toBe("STREAM_REFUSED");
  });

  test(`more than ${MAX_INCOMING_STREAMS} streams at once: the extra ones are refused`, async () => {
    const accepted: Stream[] = [];
    const link = new LossyLink({ seed: 5 }, {}, { onStream: (s) => void accepted.push(s) });
    const opened = Array.from({ length: MAX_INCOMING_STREAMS + 10 }, () => link.a.open("many"));
    await link.run(() => opened.filter((s) => s.error).length === 10, 10_000);
    expect(accepted.length).toBe(MAX_INCOMING_STREAMS);
    expect(opened.filter((s) => s.error?.code === "STREAM_REFUSED").length).toBe(10);
  });
});

describe("flow control", () => {
  test("a slow reader: the sender never exceeds the stream or session window; memory stays bounded", async () => {
    const streamWindow = 512 * KiB;
    const sessionWindow = 1 * MiB;
    const results: ReadResult[] = [];
    const readers: Stream[] = [];
    let link!: LossyLink;
    link = new LossyLink(
      { seed: 6, lossPercent: 0.5 },
      { writeHighWaterBytes: 768 * KiB },
      {
        streamWindowBytes: streamWindow,
        sessionWindowBytes: sessionWindow,
        onStream: (s) => {
          readers.push(s);
          // One chunk (about a packet's worth) every 20 ms: some 50 KiB/s, far below what the link carries.
          void readAll(s, () => new Promise((r) => link.clock.setTimer(20, r))).then((r) => results.push(r));
        },
      },
    );
    const datas = [payload(1 * MiB, 1), payload(1 * MiB, 2)];
    const writers = datas.map((d) => {
      const s = link.a.open("slow");
      void writeAll(s, d, 16 * KiB);
      return s;
    });
    let worst = { stream: 0, session: 0, unread: 0, buffered: 0, reassembly: 0 };
    await link.run(() => {
      const a = link.a.stats;
      const b = link.b.stats;
      worst = {
        stream: Math.max(worst.stream, ...writers.map((w) => w.send.sent - (readers.find((r) => r.id === w.id)?.recvConsumed ?? 0))),
        session: Math.max(worst.session, a.dataSent - b.dataConsumed),
        unread: Math.max(worst.unread, ...readers.map((r) => r.recvHighest - r.recvConsumed)),
        buffered: Math.max(worst.buffered, ...writers.map((w) => w.bufferedBytes)),
        reassembly: Math.max(worst.reassembly, ...readers.map((r) => r.recv.segments)),
      };
      return results.length === 2;
    }, 600_000);
    expect(results.map((r) => r.sha256).sort()).toEqual(datas.map(sha256).sort());
    expect(worst.stream).toBeLessThanOrEqual(streamWindow);
    expect(worst.session).toBeLessThanOrEqual(sessionWindow);
    expect(worst.stream).toBeGreaterThan(streamWindow * 0.75); // the windows were the limit, not something else
    expect(worst.session).toBeGreaterThan(sessionWindow * 0.75);
    expect(worst.unread).toBeLessThanOrEqual(streamWindow);
    expect(worst.buffered).toBeLessThanOrEqual(768 * KiB + 16 * KiB);
    expect(worst.reassembly).toBeLessThan(streamWindow / 1000);
    expect(link.b.stats.flowViolations).toBe(0);
  }, 30_000);
});

test("close() leaves data that already arrived readable, and a received FIN still ends the stream cleanly", async () => {
  const got: Uint8Array[] = [];
  let server: import("../src/transport/index.ts").Stream | undefined;
  const link = new LossyLink({ seed: 11 }, {}, { onStream: (s) => void (server = s) });
  const s = link.a.open("x");
  s.write(new Uint8Array(5000).fill(7));
  s.end();
  await link.run(() => server !== undefined && server.unread === 5000 && server.recvEnded === false, 2000);
  await link.run(() => false, 200);
  link.b.close(); // e.g. the peer's Bye arrives before the application read anything
  for await (const c of server!) got.push(c);
  expect(got.reduce((n, c) => n + c.length, 0)).toBe(5000);
});

describe("datagrams", () => {
  test("best effort: most arrive once, lost ones are never sent again, oversize ones are refused", async () => {
    const got = new Map<number, number>();
    const link = new LossyLink(
      { seed: 7, lossPercent: 10 },
      {},
      { onDatagram: (flow, d) => void (flow === 5 && got.set(new DataView(d.buffer, d.byteOffset).getUint32(0), (got.get(new DataView(d.buffer, d.byteOffset).getUint32(0)) ?? 0) + 1)) },
    );
    let sent = 0;
    for (let i = 0; i < 1000; i++) {
      const d = new Uint8Array(100);
      new DataView(d.buffer).setUint32(0, i);
      if (link.a.sendDatagram(5, d)) sent++;
      await link.run(() => false, 10);
    }
    await link.run(() => false, 1000);
    const a = link.a.stats;
    expect(sent).toBe(1000);
    expect(got.size).toBeGreaterThan(850);
    expect(got.size).toBeLessThan(950);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
    expect(a.datagramsSent + a.datagramsDropped).toBe(1000); // a few found the window full
    expect(a.datagramsSent).toBeGreaterThan(980);
    expect(a.datagramsSent - a.datagramsLost).toBeGreaterThanOrEqual(got.size); // lost: declared lost (some only late)
    expect(a.datagramsLost).toBeGreaterThan(50);
    expect(a.bytesRetransmitted).toBe(0);
    expect(link.b.stats.datagramsReceived).toBe(got.size);

    expect(link.a.sendDatagram(1, new Uint8Array(link.a.maxDatagramBytes + 1))).toBe(false);
    expect(link.a.sendDatagram(1, new Uint8Array(link.a.maxDatagramBytes))).toBe(true);
    expect(link.a.stats.datagramsDropped).toBe(a.datagramsDropped + 1);
  });

  test("a datagram-only sender that keeps the window full grows it (no stream data needed)", async () => {
    const link = new LossyLink({ seed: 9 }, {}, { onDatagram: () => {} });
    const initial = link.a.stats.cwnd;
    // A steady stream of datagrams, more than the window lets through (like a UDP forward under load).
    for (let step = 0; step < 400; step++) {
      for (let i = 0; i < 10; i++) link.a.sendDatagram(1, new Uint8Array(1000));
      await link.run(() => false, 5);
    }
    expect(link.a.stats.cwnd).toBeGreaterThan(4 * initial);
  });

  test("a burst beyond the congestion window is dropped and counted, not queued", async () => {
    const link = new LossyLink({ seed: 8 }, {}, { onDatagram: () => {} });
    let accepted = 0;
    for (let i = 0; i < 200; i++) if (link.a.sendDatagram(1, new Uint8Array(1000))) accepted++;
    await link.run(() => false, 500);
    const a = link.a.stats;
    expect(accepted).toBeLessThanOrEqual(11); // the initial window
    expect(a.datagramsDropped).toBe(200 - a.datagramsSent);
    expect(link.b.stats.datagramsReceived).toBe(a.datagramsSent);
  });
});

describe("dead link", () => {
  test("100 % loss: the PTO backs off exponentially (capped), memory stays flat; the transfer resumes when the link heals", async () => {
    let got: ReadResult | undefined;
    const sendTimes: number[] = [];
    let link!: LossyLink;
    link = new LossyLink(
      { seed: 9, lossPercent: 100, tap: (b, from) => (from === "a" && sendTimes.push(link.clock.now()), b) },
      {},
      { onStream: (s) => void readAll(s).then((r) => (got = r)) },
    );
    const data = payload(256 * KiB, 3);
    const s = link.a.open("dead");
    void writeAll(s, data);
    await link.run(() => false, 10 * 60_000);
    const a = link.a.stats;
    expect(a.packetsSent).toBeLessThan(50); // the initial window, then 2 probes per PTO
    expect(a.trackedPackets).toBeLessThanOrEqual(a.packetsSent);
    expect(a.ptoCount).toBe(6); // 1 s doubling: 64 s would pass the 60 s cap
    const probeGaps = sendTimes.slice(10).map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!)).filter((g) => g > 1);
    for (let i = 1; i < probeGaps.length; i++) expect(probeGaps[i]!).toBeGreaterThanOrEqual(Math.min(probeGaps[i - 1]! * 2 - 1, 60_000 - 1));
    expect(Math.max(...probeGaps)).toBeLessThanOrEqual(60_000);
    link.o.lossPercent = 0;
    await link.run(() => got !== undefined, 5 * 60_000);
    expect(got!.sha256).toBe(sha256(data));
    expect(a.trackedPackets).toBeLessThanOrEqual(MAX_TRACKED_SENT_PACKETS);
  }, 30_000);
});

describe("close", () => {
  test("streams fail with TRANSPORT_CLOSED, timers stop, later input is counted and ignored", async () => {
    const link = new LossyLink({ seed: 10 }, {}, { onStream: () => {} });
    const s = link.a.open("x");
    s.write(payload(64 * KiB));
    await link.run(() => link.b.stats.streams === 1, 1000);
    const reading = failure(s.read());
    link.a.close();
    expect((await reading).code).toBe("TRANSPORT_CLOSED");
    expect(() => s.write(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "TRANSPORT_CLOSED" }));
    expect(() => link.a.open()).toThrow(expect.objectContaining({ code: "TRANSPORT_CLOSED" }));
    expect(link.a.sendDatagram(1, new Uint8Array(1))).toBe(false);
    link.b.close();
    await link.run(() => false, 1000);
    expect(link.clock.nextDeadline()).toBeUndefined(); // nothing left armed, the link drained
    link.a.receiveBytes(new Uint8Array([8, 1]));
    expect(link.a.stats.packetsAfterClose).toBeGreaterThan(0);
  });
});
