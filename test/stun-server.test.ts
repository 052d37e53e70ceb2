// hp-server answers STUN Binding requests (RFC 8489) on its main and
// alternate ports, beside our own protocol on the same sockets. Real UDP on
// loopback (127.0.0.1 and ::1), raw STUN bytes from our codec.
import { afterEach, expect, test } from "bun:test";
import { generateIdentity } from "../src/identity/keys.ts";
import { formatAddr } from "../src/net/address.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import {
  decodeStun,
  encodeBindingRequest,
  encodeStun,
  hasFingerprint,
  newTransactionId,
  readErrorCode,
  readMappedAddress,
  readSoftware,
  readUnknownAttributes,
  XOR_MAPPED_ADDRESS,
  type StunMessage,
} from "../src/stun/codec.ts";
import { registered, scriptClient } from "./support/script-client.ts";

let server: RunningServer | undefined;
const sockets: Array<{ close(): void }> = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  server?.stop();
  server = undefined;
});

/** A raw UDP socket that collects STUN replies. */
async function stunSocket(host: "127.0.0.1" | "::1") {
  const inbox: Uint8Array[] = [];
  const sock = await Bun.udpSocket({ hostname: host, port: 0, socket: { data: (_s, buf) => void inbox.push(new Uint8Array(buf)), error() {} } });
  sockets.push(sock);
  return {
    port: sock.port,
    send: (bytes: Uint8Array, port: number) => sock.send(bytes, port, host),
    async reply(ms = 500): Promise<StunMessage | undefined> {
      const until = performance.now() + ms;
      while (inbox.length === 0 && performance.now() < until) await Bun.sleep(5);
      const b = inbox.shift();
      return b && decodeStun(b);
    },
  };
}

for (const host of ["127.0.0.1", "::1"] as const) {
  test(`Binding over ${host.includes(":") ? "IPv6" : "IPv4"}: XOR-MAPPED-ADDRESS is the sender, with SOFTWARE and FINGERPRINT, on both ports`, async () => {
    server = await startServer({ host: host === "::1" ? "::" : host, port: 0 });
    const c = await stunSocket(host);
    for (const port of [server.port, server.altPort!]) {
      const txid = newTransactionId();
      c.send(encodeBindingRequest({ transactionId: txid }), port);
      const r = await c.reply();
      expect(r?.cls).toBe("success");
      expect(r!.transactionId).toEqual(txid);
      expect(r!.attributes.some((a) => a.type === XOR_MAPPED_ADDRESS)).toBe(true);
      expect(formatAddr(readMappedAddress(r!)!)).toBe(formatAddr({ ip: host, port: c.port }));
      expect(readSoftware(r!)).toStartWith("hole-punch/");
      expect(hasFingerprint(r!)).toBe(true); // decodeStun checked its value
    }
    expect(server.core.stats.get("stun_binding")).toBe(2);
  });
}

test("a request with FINGERPRINT (checked) is answered; one with a bad FINGERPRINT is not", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const c = await stunSocket("127.0.0.1");
  const good = encodeBindingRequest({ transactionId: newTransactionId(), software: "test", fingerprint: true });
  c.send(good, server.port);
  expect((await c.reply())?.cls).toBe("success");
  const bad = good.slice();
  bad[bad.length - 1]! ^= 1;
  c.send(bad, server.port);
  expect(await c.reply(150)).toBeUndefined();
  expect(server.core.stats.droppedFor("stun_bad_fingerprint")).toBe(1);
});

test("420 lists unknown comprehension-required attributes; 400 for another method", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const c = await stunSocket("127.0.0.1");
  const odd = encodeStun({ method: 1, cls: "request", transactionId: newTransactionId(), attributes: [{ type: 0x7f01, value: new Uint8Array(4) }] });
  c.send(odd, server.port);
  const r420 = await c.reply();
  expect(r420?.cls).toBe("error");
  expect(readErrorCode(r420!)?.code).toBe(420);
  expect(readUnknownAttributes(r420!)).toEqual([0x7f01]);
  // Unknown comprehension-optional attributes (0x8000-) are ignored.
  const optional = encodeStun({ method: 1, cls: "request", transactionId: newTransactionId(), attributes: [{ type: 0xc001, value: new Uint8Array(4) }] });
  c.send(optional, server.port);
  expect((await c.reply())?.cls).toBe("success");
  const allocate = encodeStun({ method: 3, cls: "request", transactionId: newTransactionId() });
  c.send(allocate, server.port);
  const r400 = await c.reply();
  expect(r400?.cls).toBe("error");
  expect(r400?.method).toBe(3);
  expect(readErrorCode(r400!)?.code).toBe(400);
});

test("STUN and our protocol share the socket: a client registers between Binding requests", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const c = await stunSocket("127.0.0.1");
  c.send(encodeBindingRequest({ transactionId: newTransactionId() }), server.port);
  expect((await c.reply())?.cls).toBe("success");
  const hp = await scriptClient(server.port);
  sockets.push(hp);
  expect(await registered(hp, "alice", generateIdentity())).toHaveLength(16);
  c.send(encodeBindingRequest({ transactionId: newTransactionId() }), server.port);
  expect((await c.reply())?.cls).toBe("success");
});

test("the per-IP rate limit covers STUN too", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, ratePerSecond: 5, rateBurst: 5 });
  const c = await stunSocket("127.0.0.1");
  for (let i = 0; i < 20; i++) c.send(encodeBindingRequest({ transactionId: newTransactionId() }), server.port);
  let answers = 0;
  while (await c.reply(150)) answers++;
  expect(answers).toBeGreaterThanOrEqual(5);
  expect(answers).toBeLessThan(20);
  expect(server.core.stats.droppedFor("rate_limited")).toBeGreaterThan(0);
});

test("fuzz: 50,000 mutated STUN datagrams never throw, and only requests are answered", async () => {
  const { answerStun } = await import("../src/server/stun-responder.ts");
  const { prng } = await import("./support/prng.ts");
  const rnd = prng(5769);
  const seeds = [
    encodeBindingRequest({ transactionId: newTransactionId(), software: "x", fingerprint: true }),
    encodeBindingRequest({ transactionId: newTransactionId() }),
    new Uint8Array(Buffer.from("0001000801f39918e06d7c5f439b972a623e5e600003000400000006", "hex")), // RFC 3489, CHANGE-REQUEST
  ];
  let answered = 0;
  for (let i = 0; i < 50_000; i++) {
    const b = seeds[i % seeds.length]!.slice();
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const v = answerStun(b, { ip: "192.0.2.1", port: 4000 }, { other: "same-ip" });
    if ("reply" in v) {
      answered++;
      // Never answer a response or an indication: only request class bits (C1 C0 = 00).
      expect((b[0]! & 0x01) | (b[1]! & 0x10)).toBe(0);
    }
  }
  expect(answered).toBeGreaterThan(1000);
}, 30_000);
