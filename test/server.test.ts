// The rendezvous server over real UDP on 127.0.0.1, driven by scripted clients.
import { afterEach, describe, expect, test } from "bun:test";
import { ErrorCode } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { bytesToIp } from "../src/net/address.ts";
import { encodePacket } from "../src/protocol/packet.ts";
import { startServer, type RunningServer, type ServerOptions } from "../src/server/udp-server.ts";
import { instanceA, instanceB, keepalive, punchRequest, register, scriptClient, type ScriptClient } from "./support/script-client.ts";
import { knownHex } from "./codec.test.ts";

let server: RunningServer | undefined;
const clients: ScriptClient[] = [];

async function setup(opts: ServerOptions = {}) {
  server = await startServer({ host: "127.0.0.1", port: 0, ...opts });
  return server;
}
async function client(): Promise<ScriptClient> {
  const c = await scriptClient(server!.port);
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  server?.stop();
  server = undefined;
});

describe("register", () => {
  test("acknowledged with the observed address and timers", async () => {
    await setup();
    const a = await client();
    a.send(register("alice"), 42n);
    const r = await a.next();
    expect(r.txid).toBe(42n);
    expect(r.body.case).toBe("registerAck");
    if (r.body.case !== "registerAck") return;
    expect(bytesToIp(r.body.value.observed!.ip)).toBe("127.0.0.1");
    expect(r.body.value.observed!.port).toBe(a.port);
    expect(r.body.value.ttlMs).toBe(45_000);
    expect(r.body.value.keepaliveMs).toBe(10_000);
    expect(server!.core.registry.size).toBe(1);
  });

  const invalid = ["", "-alice", "a b", "ümlaut", "x".repeat(33), "a/b"];
  for (const name of invalid) {
    test(`invalid name ${JSON.stringify(name)} is refused`, async () => {
      await setup();
      const a = await client();
      a.send(register(name), 1n);
      const r = await a.next();
      expect(r.body.case === "error" && r.body.value.code).toBe(ErrorCode.NAME_INVALID);
      expect(server!.core.registry.size).toBe(0);
    });
  }

  test("unregister frees the name at once; only its holder can unregister it", async () => {
    await setup();
    const a = await client();
    const b = await client();
    a.send(register("alice"));
    expect((await a.next()).body.case).toBe("registerAck");
    const unregister = (instance: Uint8Array) => ({
      case: "unregister" as const,
      value: { $typeName: "holepunch.v1.Unregister" as const, name: "alice", instance },
    });
    b.send(unregister(instanceA)); // right instance, wrong address (nothing registered there)
    a.send(unregister(instanceB)); // right address, wrong instance
    expect(await a.silentFor(100)).toBe(true);
    expect(server!.core.registry.size).toBe(1);
    expect(server!.core.stats.droppedFor("unregister_mismatch")).toBe(1);
    expect(server!.core.stats.get("unregister_repeat")).toBe(1);
    a.send(unregister(instanceA));
    expect(await a.silentFor(100)).toBe(true); // never answered
    expect(server!.core.registry.size).toBe(0);
    b.send(register("alice", instanceB)); // a restarted client takes the name at once
    expect((await b.next()).body.case).toBe("registerAck");
  });

  test("a name held by another instance is taken; the same instance may move", async () => {
    await setup();
    const a = await client();
    const b = await client();
    const a2 = await client();
    a.send(register("alice"));
    expect((await a.next()).body.case).toBe("registerAck");
    b.send(register("alice", instanceB));
    const r = await b.next();
    expect(r.body.case === "error" && r.body.value.code).toBe(ErrorCode.NAME_TAKEN);
    a2.send(register("alice")); // same instance, new socket (NAT rebinding)
    expect((await a2.next()).body.case).toBe("registerAck");
    a.send(keepalive("alice")); // the old address no longer holds it
    const k = await a.next();
    expect(k.body.case === "error" && k.body.value.code).toBe(ErrorCode.NOT_REGISTERED);
  });

  test("expires after the TTL unless refreshed", async () => {
    await setup({ ttlMs: 300 });
    const a = await client();
    const b = await client();
    const c = await client();
    a.send(register("alice"));
    b.send(register("bob", instanceB));
    c.send(register("carol"));
    await Promise.all([a.next(), b.next(), c.next()]);
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(150);
      a.send(keepalive("alice"));
      expect((await a.next()).body.case).toBe("keepaliveAck");
    }
    // 450 ms in: alice was refreshed, bob (and carol) were not.
    c.send(register("carol"));
    expect((await c.next()).body.case).toBe("registerAck");
    c.send(punchRequest("bob"));
    expect((await c.next()).body.case).toBe("holePunchResponseUnknown");
    c.send(punchRequest("alice"));
    expect((await c.next()).body.case).toBe("holePunchInitiate");
    expect(server!.core.registry.size).toBe(2); // alice and carol
  });

  test("the registry is capped", async () => {
    await setup({ maxClients: 2 });
    const cs = [await client(), await client(), await client()];
    cs[0]!.send(register("a1"));
    cs[1]!.send(register("a2"));
    expect((await cs[0]!.next()).body.case).toBe("registerAck");
    expect((await cs[1]!.next()).body.case).toBe("registerAck");
    cs[2]!.send(register("a3"));
    const r = await cs[2]!.next();
    expect(r.body.case === "error" && r.body.value.code).toBe(ErrorCode.REGISTRY_FULL);
    expect(server!.core.registry.size).toBe(2);
  });
});

describe("introductions", () => {
  test("unknown peer", async () => {
    await setup();
    const a = await client();
    a.send(register("alice"));
    await a.next();
    a.send(punchRequest("nobody"), 9n);
    const r = await a.next();
    expect(r.txid).toBe(9n);
    expect(r.body.case === "holePunchResponseUnknown" && r.body.value.target).toBe("nobody");
  });

  test("an invalid peer name is refused, not reported unknown", async () => {
    await setup();
    const a = await client();
    a.send(register("alice"));
    await a.next();
    a.send(punchRequest("no such name!"), 4n);
    const r = await a.next();
    expect(r.txid).toBe(4n);
    expect(r.body.case === "error" && r.body.value.code).toBe(ErrorCode.NAME_INVALID);
  });

  test("two clients asking for each other get one token", async () => {
    await setup();
    const a = await client();
    const b = await client();
    a.send(register("alice"));
    b.send(register("bob", instanceB));
    await Promise.all([a.next(), b.next()]);
    a.send(punchRequest("bob"));
    const [a1, b1] = [await a.next(), await b.next()];
    b.send(punchRequest("alice"));
    const [b2, a2] = [await b.next(), await a.next()];
    const tokens = [a1, b1, b2, a2].map((e) => (e.body.case === "holePunchInitiate" ? Buffer.from(e.body.value.token).toString("hex") : e.body.case));
    expect(new Set(tokens).size).toBe(1);
  });

  test("an unregistered requester is told to register", async () => {
    await setup();
    const a = await client();
    a.send(punchRequest("alice"));
    const r = await a.next();
    expect(r.body.case === "error" && r.body.value.code).toBe(ErrorCode.NOT_REGISTERED);
  });

  test("both sides get an Initiate with each other's address and one token; a retry reuses it", async () => {
    await setup();
    const a = await client();
    const b = await client();
    a.send(register("alice"));
    b.send(register("bob", instanceB));
    await Promise.all([a.next(), b.next()]);
    b.send(punchRequest("alice"), 5n);
    const [toB, toA] = [await b.next(), await a.next()];
    if (toB.body.case !== "holePunchInitiate" || toA.body.case !== "holePunchInitiate") throw new Error("expected Initiates");
    expect(toB.txid).toBe(5n);
    expect(toB.body.value.initiator).toBe(true);
    expect(toA.body.value.initiator).toBe(false);
    expect(toB.body.value.peerName).toBe("alice");
    expect(toA.body.value.peerName).toBe("bob");
    expect(toB.body.value.candidates[0]!.address!.port).toBe(a.port);
    expect(toA.body.value.candidates[0]!.address!.port).toBe(b.port);
    expect(toA.body.value.token).toEqual(toB.body.value.token);
    b.send(punchRequest("alice"), 6n);
    const again = await b.next();
    await a.next();
    expect(again.body.case === "holePunchInitiate" && again.body.value.token).toEqual(toB.body.value.token);
  });
});

describe("bad input is dropped, counted and never answered", () => {
  const hp = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
  const table: Array<[string, Uint8Array, string]> = [
    ["empty", new Uint8Array(), "not_ours"],
    ["text", new TextEncoder().encode("GET / HTTP/1.1\r\n"), "not_ours"],
    ["STUN binding request", hp("000100002112a442" + "00".repeat(12)), "stun_unsupported"],
    ["prefix only", hp("e8485001"), "invalid"],
    ["garbage body", hp("e8485001ffffffffffffffff"), "malformed"],
    ["truncated Register", hp(knownHex.Register!.slice(0, 40)), "malformed"],
    ["oversized", new Uint8Array([0xe8, 0x48, 0x50, 1, ...new Uint8Array(1400)]), "too_large"],
    ["a server-to-client message", hp(knownHex.RegisterAck!), "unexpected_type"],
    ["a peer message", hp(knownHex.PunchProbe!), "unexpected_type"],
  ];
  for (const [name, bytes, reason] of table) {
    test(name, async () => {
      await setup();
      const a = await client();
      a.sendRaw(bytes);
      expect(await a.silentFor(150)).toBe(true);
      expect(server!.core.stats.droppedFor(reason)).toBe(1);
    });
  }
});

test("a version error is never larger than the datagram that caused it (no amplification)", async () => {
  await setup();
  const a = await client();
  a.sendRaw(Uint8Array.of(0xe8, 0x48, 0x50, 2)); // 4 bytes; the reply would be 12
  expect(await a.silentFor(150)).toBe(true);
  expect(server!.core.stats.droppedFor("version_reply_too_large")).toBe(1);
});

test("an unsupported version gets one clear error naming the supported ones", async () => {
  await setup();
  const a = await client();
  const v2 = encodePacket(register("alice"));
  v2[3] = 2;
  a.sendRaw(v2);
  const r = await a.next();
  expect(r.body.case).toBe("error");
  if (r.body.case !== "error") return;
  expect(r.body.value.code).toBe(ErrorCode.UNSUPPORTED_VERSION);
  expect(r.body.value.supportedVersions).toEqual([1]);
});

test("per-IP rate limit: excess requests are dropped, with at most one RATE_LIMITED a second", async () => {
  await setup({ ratePerSecond: 5, rateBurst: 5 });
  const a = await client();
  a.send(register("alice"));
  await a.next();
  for (let i = 0; i < 20; i++) a.send(keepalive("alice"));
  const replies = [];
  for (;;) {
    try {
      replies.push(await a.next(200));
    } catch {
      break;
    }
  }
  const acks = replies.filter((r) => r.body.case === "keepaliveAck").length;
  const limited = replies.filter((r) => r.body.case === "error" && r.body.value.code === ErrorCode.RATE_LIMITED).length;
  expect(acks).toBe(4); // burst of 5, one spent on the registration
  expect(limited).toBe(1);
  expect(server!.core.stats.droppedFor("rate_limited")).toBe(16);
});

test("rate limiting can be switched off (--rate 0)", async () => {
  await setup({ ratePerSecond: Number.POSITIVE_INFINITY, rateBurst: Number.POSITIVE_INFINITY });
  const a = await client();
  a.send(register("alice"));
  await a.next();
  // Bursts of 100: a socket's default receive buffer holds only ~256 small datagrams.
  let acks = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) a.send(keepalive("alice"));
    for (let i = 0; i < 100; i++) if ((await a.next()).body.case === "keepaliveAck") acks++;
  }
  expect(acks).toBe(300); // far over the default 50/s, burst 100
  expect(server!.core.stats.droppedFor("rate_limited")).toBe(0);
});
