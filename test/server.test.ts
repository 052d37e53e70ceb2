// The rendezvous server over real UDP on 127.0.0.1, driven by scripted clients.
import { afterEach, describe, expect, test } from "bun:test";
import { ErrorCode, type Envelope } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { initiateAuth } from "../src/crypto/server-auth.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { bytesToIp } from "../src/net/address.ts";
import { encodePacket, type Body } from "../src/protocol/packet.ts";
import { startServer, type RunningServer, type ServerOptions } from "../src/server/udp-server.ts";
import { hello, keepalive, punchRequest, registered, registerFully, scriptClient, signedRegister, unregister, type ScriptClient } from "./support/script-client.ts";
import { knownHex } from "./codec.test.ts";

let server: RunningServer | undefined;
const clients: ScriptClient[] = [];
const alice = generateIdentity();
const bob = generateIdentity();
const mallory = generateIdentity();

async function setup(opts: ServerOptions = {}) {
  server = await startServer({ host: "127.0.0.1", port: 0, ...opts });
  return server;
}
async function client(bindHost = "127.0.0.1"): Promise<ScriptClient> {
  const c = await scriptClient(server!.port, "127.0.0.1", bindHost);
  clients.push(c);
  return c;
}
const errorCode = (e: Envelope) => (e.body.case === "error" ? e.body.value.code : `not an error: ${e.body.case}`);

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  server?.stop();
  server = undefined;
});

describe("register", () => {
  test("hello -> Challenge (never larger than the hello) -> signed Register -> RegisterAck", async () => {
    await setup();
    const a = await client();
    a.send(hello("alice", alice), 42n);
    const ch = await a.next();
    expect(ch.body.case).toBe("challenge");
    expect(a.bytesReceived).toBeLessThanOrEqual(a.bytesSent);
    if (ch.body.case !== "challenge") return;
    a.send(signedRegister("alice", alice, ch.body.value.cookie), 42n);
    const r = await a.next();
    expect(r.txid).toBe(42n);
    if (r.body.case !== "registerAck") throw new Error(r.body.case);
    expect(bytesToIp(r.body.value.observed!.ip)).toBe("127.0.0.1");
    expect(r.body.value.observed!.port).toBe(a.port);
    expect(r.body.value.ttlMs).toBe(45_000);
    expect(r.body.value.keepaliveMs).toBe(10_000);
    expect(r.body.value.secret).toHaveLength(16);
    expect(server!.core.registry.size).toBe(1);
  });

  const invalid = ["", "-alice", "a b", "ümlaut", "x".repeat(33), "a/b"];
  for (const name of invalid) {
    test(`invalid name ${JSON.stringify(name)} is refused`, async () => {
      await setup();
      const a = await client();
      a.send(hello(name, alice), 1n);
      expect(errorCode(await a.next())).toBe(ErrorCode.NAME_INVALID);
      expect(server!.core.registry.size).toBe(0);
    });
  }

  test("hijack: another key can neither take nor refresh a registered name; the owner's key may move", async () => {
    await setup();
    const a = await client();
    const m = await client();
    const a2 = await client();
    const secret = await registered(a, "alice", alice);
    expect(errorCode(await registerFully(m, "alice", mallory))).toBe(ErrorCode.NAME_TAKEN);
    m.send(keepalive("alice", new Uint8Array(16)), 5n); // a guessed secret, from another address
    expect(errorCode(await m.next())).toBe(ErrorCode.NOT_REGISTERED);
    await registered(a2, "alice", alice); // same key, new socket: a restart or NAT rebinding
    a.send(keepalive("alice", secret), 6n); // the old address (and secret) no longer hold it
    expect(errorCode(await a.next())).toBe(ErrorCode.NOT_REGISTERED);
  });

  test("a forged signature or a cookie for another address is refused", async () => {
    await setup();
    const a = await client();
    const m = await client();
    a.send(hello("alice", alice), 1n);
    const ch = await a.next();
    if (ch.body.case !== "challenge") throw new Error(ch.body.case);
    // mallory signs alice's name with her own key but claims alice's key
    const forged = signedRegister("alice", mallory, ch.body.value.cookie);
    if (forged.case === "register") forged.value.publicKey = alice.publicKey;
    a.send(forged, 1n);
    expect(errorCode(await a.next())).toBe(ErrorCode.BAD_SIGNATURE);
    // a valid signature over alice's cookie, sent from another address
    m.send(signedRegister("alice", alice, ch.body.value.cookie), 1n);
    expect(errorCode(await m.next())).toBe(ErrorCode.BAD_SIGNATURE);
    expect(server!.core.registry.size).toBe(0);
  });

  test("replay: a captured signed Register registers nothing once its owner has moved on", async () => {
    await setup();
    const a = await client();
    a.send(hello("alice", alice), 1n);
    const ch = await a.next();
    if (ch.body.case !== "challenge") throw new Error(ch.body.case);
    const captured = encodePacket(signedRegister("alice", alice, ch.body.value.cookie), 1n);
    a.sendRaw(captured);
    const ack = await a.next();
    if (ack.body.case !== "registerAck") throw new Error(ack.body.case);
    a.sendRaw(captured); // the client's own retransmission: answered again, nothing changes
    expect((await a.next()).body.case).toBe("registerAck");
    a.send(unregister("alice", ack.body.value.secret));
    expect(await a.silentFor(100)).toBe(true);
    expect(server!.core.registry.size).toBe(0);
    a.sendRaw(captured); // replayed after alice left
    expect(await a.silentFor(150)).toBe(true);
    expect(server!.core.registry.size).toBe(0);
    expect(server!.core.stats.droppedFor("register_replay")).toBe(1);
  });

  test("unregister frees the name at once; only its secret can", async () => {
    await setup();
    const a = await client();
    const b = await client();
    const secret = await registered(a, "alice", alice);
    a.send(unregister("alice", new Uint8Array(16))); // wrong secret
    expect(await a.silentFor(100)).toBe(true);
    expect(server!.core.registry.size).toBe(1);
    expect(server!.core.stats.droppedFor("unregister_mismatch")).toBe(1);
    a.send(unregister("alice", secret));
    expect(await a.silentFor(100)).toBe(true); // never answered
    expect(server!.core.registry.size).toBe(0);
    expect((await registerFully(b, "alice", mallory)).body.case).toBe("registerAck");
  });

  test("expires after the TTL unless refreshed", async () => {
    await setup({ ttlMs: 400 });
    const [a, b, c] = [await client(), await client(), await client()];
    const sa = await registered(a, "alice", alice);
    await registered(b, "bob", bob);
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(150);
      a.send(keepalive("alice", sa));
      expect((await a.next()).body.case).toBe("keepaliveAck");
    }
    // 450 ms in: alice was refreshed, bob was not.
    const sc = await registered(c, "carol", mallory);
    c.send(punchRequest("bob", sc));
    expect((await c.next()).body.case).toBe("holePunchResponseUnknown");
    c.send(punchRequest("alice", sc));
    expect((await c.next()).body.case).toBe("holePunchInitiate");
    expect(server!.core.registry.size).toBe(2);
  });

  test("the registry is capped", async () => {
    await setup({ maxClients: 2 });
    const cs = [await client(), await client(), await client()];
    await registered(cs[0]!, "a1", alice);
    await registered(cs[1]!, "a2", bob);
    expect(errorCode(await registerFully(cs[2]!, "a3", mallory))).toBe(ErrorCode.REGISTRY_FULL);
    expect(server!.core.registry.size).toBe(2);
  });

  test("one source IP holds at most --max-per-ip names; other IPs are unaffected", async () => {
    await setup({ maxPerIp: 2 });
    const cs = [await client(), await client(), await client()];
    await registered(cs[0]!, "a1", alice);
    await registered(cs[1]!, "a2", bob);
    const r = await registerFully(cs[2]!, "a3", mallory);
    expect(errorCode(r)).toBe(ErrorCode.REGISTRY_FULL);
    expect(r.body.case === "error" && r.body.value.message).toContain("too many names registered from your address");
    const other = await client("127.0.0.2");
    await registered(other, "a4", mallory);
  });

  test("private server: allow-list and token", async () => {
    await setup({ allow: new Map([["alice", alice.publicKey]]), token: "s3cret" });
    const [a, b, m] = [await client(), await client(), await client()];
    expect(errorCode(await registerFully(a, "alice", alice))).toBe(ErrorCode.NOT_ALLOWED); // no token
    expect((await registerFully(a, "alice", alice, "s3cret")).body.case).toBe("registerAck");
    expect(errorCode(await registerFully(b, "bob", bob, "s3cret"))).toBe(ErrorCode.NOT_ALLOWED); // not listed
    expect(errorCode(await registerFully(m, "alice", mallory, "s3cret"))).toBe(ErrorCode.NOT_ALLOWED); // wrong key
  });
});

describe("introductions", () => {
  test("unknown peer", async () => {
    await setup();
    const a = await client();
    const secret = await registered(a, "alice", alice);
    a.send(punchRequest("nobody", secret), 9n);
    const r = await a.next();
    expect(r.txid).toBe(9n);
    expect(r.body.case === "holePunchResponseUnknown" && r.body.value.target).toBe("nobody");
  });

  test("an invalid peer name is refused, not reported unknown", async () => {
    await setup();
    const a = await client();
    const secret = await registered(a, "alice", alice);
    a.send(punchRequest("no such name!", secret), 4n);
    expect(errorCode(await a.next())).toBe(ErrorCode.NAME_INVALID);
  });

  test("a request without the registration's secret is refused", async () => {
    await setup();
    const a = await client();
    await registered(a, "alice", alice);
    a.send(punchRequest("alice", new Uint8Array(16)));
    expect(errorCode(await a.next())).toBe(ErrorCode.NOT_REGISTERED);
  });

  test("both sides get an authenticated Initiate with the other's address and key; one token; retries reuse it", async () => {
    await setup();
    const a = await client();
    const b = await client();
    const sa = await registered(a, "alice", alice);
    const sb = await registered(b, "bob", bob);
    b.send(punchRequest("alice", sb), 5n);
    const [toB, toA] = [await b.next(), await a.next()];
    if (toB.body.case !== "holePunchInitiate" || toA.body.case !== "holePunchInitiate") throw new Error("expected Initiates");
    expect(toB.txid).toBe(5n);
    expect([toB.body.value.initiator, toA.body.value.initiator]).toEqual([true, false]);
    expect([toB.body.value.peerName, toA.body.value.peerName]).toEqual(["alice", "bob"]);
    expect(toB.body.value.peerKey).toEqual(alice.publicKey);
    expect(toA.body.value.peerKey).toEqual(bob.publicKey);
    expect(toB.body.value.candidates[0]!.address!.port).toBe(a.port);
    expect(toA.body.value.candidates[0]!.address!.port).toBe(b.port);
    expect(toA.body.value.token).toEqual(toB.body.value.token);
    const { auth, $typeName: _t, $unknown: _u, ...fieldsA } = toA.body.value;
    expect(auth).toEqual(initiateAuth(sa, fieldsA)); // made with alice's secret
    expect(auth).not.toEqual(initiateAuth(sb, fieldsA));
    a.send(punchRequest("bob", sa)); // asking for each other joins the same attempt
    const again = await a.next();
    await b.next();
    expect(again.body.case === "holePunchInitiate" && again.body.value.token).toEqual(toB.body.value.token);
  });
});

test("LAN candidates must be LAN addresses: public ones are not passed on to peers", async () => {
  await setup();
  const a = await client();
  const b = await client();
  const addr = (ip: number[], port: number) => ({ $typeName: "holepunch.v1.Address" as const, ip: Uint8Array.from(ip), port });
  const locals = [addr([10, 0, 0, 5], 5000), addr([8, 8, 8, 8], 53), addr([192, 168, 1, 9], 5000)];
  expect((await registerFully(a, "alice", alice, "", locals)).body.case).toBe("registerAck");
  const sb = await registered(b, "bob", bob);
  b.send(punchRequest("alice", sb));
  const init = await b.next();
  if (init.body.case !== "holePunchInitiate") throw new Error(init.body.case);
  const ips = init.body.value.candidates.map((c) => bytesToIp(c.address!.ip));
  expect(ips).toEqual(["127.0.0.1", "10.0.0.5", "192.168.1.9"]);
});

test("a Register whose signed LAN candidates were altered on the way is refused", async () => {
  await setup();
  const a = await client();
  a.send(hello("alice", alice), 1n);
  const ch = await a.next();
  if (ch.body.case !== "challenge") throw new Error(ch.body.case);
  const body = signedRegister("alice", alice, ch.body.value.cookie, "", [{ $typeName: "holepunch.v1.Address", ip: Uint8Array.of(10, 0, 0, 5), port: 5000 }]);
  if (body.case === "register") body.value.localAddresses[0]!.port = 6000; // tampered after signing
  a.send(body, 1n);
  expect(errorCode(await a.next())).toBe(ErrorCode.BAD_SIGNATURE);
});

describe("bad input is dropped, counted and never answered", () => {
  const hp = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
  const table: Array<[string, Uint8Array, string]> = [
    ["empty", new Uint8Array(), "not_ours"],
    ["text", new TextEncoder().encode("GET / HTTP/1.1\r\n"), "not_ours"],
    ["STUN binding response (not a request)", hp("010100002112a442" + "00".repeat(12)), "stun_not_request"],
    ["STUN binding indication", hp("001100002112a442" + "00".repeat(12)), "stun_not_request"],
    ["STUN request with a wrong FINGERPRINT", hp("000100082112a442" + "00".repeat(12) + "8028000400000000"), "stun_bad_fingerprint"],
    ["prefix only", hp("e8485001"), "invalid"],
    ["garbage body", hp("e8485001ffffffffffffffff"), "malformed"],
    ["truncated Register", hp(knownHex["Register (signed)"]!.slice(0, 40)), "malformed"],
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

test("amplification: to an unverified address, every request type draws at most as many bytes as it sent", async () => {
  await setup();
  const secret = new Uint8Array(16);
  const requests = [
    ["hello, unpadded", hello("alice", alice, 0)],
    ["hello, padded", hello("alice", alice)],
    ["hello, invalid name", hello("-", alice, 0)],
    ["signed Register, bad cookie", signedRegister("alice", alice, new Uint8Array(24))],
    ["Keepalive", keepalive("alice", secret)],
    ["HolePunchRequest", punchRequest("alice", secret)],
    ["Unregister", unregister("alice", secret)],
    ["RelayData", { case: "relayData", value: { $typeName: "holepunch.v1.RelayData", token: new Uint8Array(16), secret, payload: new Uint8Array(8) } }],
    ["NatProbe, unpadded", { case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array() } }],
    ["NatProbe, padded", { case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(48) } }],
  ] as const satisfies ReadonlyArray<readonly [string, Body]>;
  for (const [name, body] of requests) {
    const c = await client();
    c.send(body, 1n);
    await c.silentFor(100);
    expect({ name, received: c.bytesReceived <= c.bytesSent }).toEqual({ name, received: true });
  }
  // ...and on the alternate (NAT discovery) port too.
  for (const padding of [0, 48]) {
    const c = await scriptClient(server!.altPort!, "127.0.0.1");
    clients.push(c);
    c.send({ case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(padding) } }, 1n);
    const answered = !(await c.silentFor(100));
    expect({ padding, answered, ok: c.bytesReceived <= c.bytesSent }).toEqual({ padding, answered: padding > 0, ok: true });
  }
  const tiny = await client();
  tiny.sendRaw(Uint8Array.of(0xe8, 0x48, 0x50, 2)); // another version, 4 bytes
  await tiny.silentFor(100);
  expect(tiny.bytesReceived).toBe(0);
  expect(server!.core.stats.droppedFor("amplification_guard") + server!.core.stats.droppedFor("version_reply_too_large")).toBeGreaterThan(0);
});

test("an unsupported version gets one clear error naming the supported ones", async () => {
  await setup();
  const a = await client();
  const v2 = encodePacket(hello("alice", alice));
  v2[3] = 2;
  a.sendRaw(v2);
  const r = await a.next();
  expect(errorCode(r)).toBe(ErrorCode.UNSUPPORTED_VERSION);
  expect(r.body.case === "error" && r.body.value.supportedVersions).toEqual([1]);
});

test("per-IP rate limit: excess requests are dropped, with at most one RATE_LIMITED a second", async () => {
  await setup({ ratePerSecond: 5, rateBurst: 5 });
  const a = await client();
  const secret = await registered(a, "alice", alice); // 2 of the burst
  for (let i = 0; i < 20; i++) a.send(keepalive("alice", secret));
  const replies = [];
  for (;;) {
    try {
      replies.push(await a.next(200));
    } catch {
      break;
    }
  }
  const acks = replies.filter((r) => r.body.case === "keepaliveAck").length;
  const limited = replies.filter((r) => errorCode(r) === ErrorCode.RATE_LIMITED).length;
  expect(acks).toBe(3);
  expect(limited).toBe(1);
  expect(server!.core.stats.droppedFor("rate_limited")).toBe(17);
});

test("per-name rate limit: hellos per (name, IP); a flood claiming a name elsewhere cannot starve its owner", async () => {
  await setup({ ratePerName: 5 });
  const cs: ScriptClient[] = [];
  for (let i = 0; i < 30; i++) cs.push(await client());
  for (const c of cs) c.send(hello("alice", mallory), 1n); // all within a few ms: no refill
  const answered = await Promise.all(cs.map((c) => c.silentFor(200).then((silent) => !silent)));
  expect(answered.filter(Boolean).length).toBe(20); // burst max(20, 2 x 5)
  expect(server!.core.stats.droppedFor("rate_limited_name")).toBe(10);
  const owner = await client("127.0.0.2");
  expect((await registerFully(owner, "alice", alice)).body.case).toBe("registerAck");
});

test("per-name rate limit on introductions, by the requester's authenticated name", async () => {
  await setup({ ratePerName: 5 });
  const a = await client();
  const secret = await registered(a, "alice", alice);
  for (let i = 0; i < 30; i++) a.send(punchRequest("nobody", secret));
  let answers = 0;
  while (!(await a.silentFor(150))) answers++;
  expect(answers).toBe(20);
  expect(server!.core.stats.droppedFor("rate_limited_name")).toBe(10);
});

test("rate limiting can be switched off (--rate 0)", async () => {
  await setup({ ratePerSecond: Number.POSITIVE_INFINITY, rateBurst: Number.POSITIVE_INFINITY });
  const a = await client();
  const secret = await registered(a, "alice", alice);
  // Bursts of 100: a socket's default receive buffer holds only ~256 small datagrams.
  let acks = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) a.send(keepalive("alice", secret));
    for (let i = 0; i < 100; i++) if ((await a.next()).body.case === "keepaliveAck") acks++;
  }
  expect(acks).toBe(300); // far over the default 50/s, burst 100
  expect(server!.core.stats.droppedFor("rate_limited")).toBe(0);
});
