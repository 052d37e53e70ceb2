// Security properties, on the simulated internet with a tap on every
// datagram: forged probes and Initiates are ignored, nothing in a capture is
// plaintext, tampered or replayed ciphertext is dropped, changed peer keys are
// refused, sessions rekey, and a flood of registrations cannot lock out a
// live client.
import { describe, expect, test } from "bun:test";
import { memoryTrust } from "../src/client/client.ts";
import { second } from "../src/constants.ts";
import { handshakeSigningInput, newEphemeral } from "../src/crypto/handshake.ts";
import { generateIdentity, sign } from "../src/identity/keys.ts";
import { classify, decodePacket, encodePacket } from "../src/protocol/packet.ts";
import { connected, messages, SERVER, world } from "./support/sim-world.ts";
import { hello, signedRegister } from "./support/script-client.ts";

const bodyOf = (b: Uint8Array) => (classify(b) === "hp" ? decodePacket(b).body : undefined);
const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

describe("authentication", () => {
  test("a probe signed by the wrong key (an on-path attacker with the token) gets no answer", () => {
    const w = world(0, 1, { relay: false }); // no relay: alice must stay punching
    let token: Uint8Array | undefined;
    const aliceAddr = { ip: "198.18.0.11", port: 5000 }; // the first public peer of the world
    // Bob's packets never reach alice, so she keeps punching: the moment a forged probe matters.
    w.net.tap = (b, from, to) => {
      const body = bodyOf(b);
      if (body?.case === "punchProbe") token = body.value.token;
      return to.ip === aliceAddr.ip && from.ip !== SERVER.ip ? null : b;
    };
    const alice = w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    w.peer("bob", "cone", "alice");
    w.net.clock.advance(2 * second);
    expect(alice.client.link?.state).toBe("punching");
    // Mallory replays the token with her own ephemeral, signed by her own key.
    const mallory = generateIdentity();
    const eph = newEphemeral();
    const forged = encodePacket({
      case: "punchProbe",
      value: {
        $typeName: "holepunch.v1.PunchProbe",
        token: token!,
        fromName: "bob",
        seq: 99n,
        handshake: { $typeName: "holepunch.v1.Handshake", ephemeral: eph.publicKey, signature: sign(mallory, handshakeSigningInput(token!, eph.publicKey)) },
      },
    });
    const malloryAddr = { ip: "198.18.0.66", port: 6666 };
    let answeredMallory = 0;
    w.net.tap = (b, _from, to) => {
      if (to.ip === malloryAddr.ip) answeredMallory++;
      return to.ip === aliceAddr.ip ? null : b;
    };
    w.net.inject(forged, malloryAddr, aliceAddr);
    w.net.clock.advance(1 * second);
    expect(answeredMallory).toBe(0);
    expect(alice.client.dropped.get("bad_handshake_signature")).toBe(1);
    expect(connected(alice)).toBeUndefined();
  });

  test("an Initiate spoofed from the server's address without the registration's MAC is ignored", () => {
    const w = world();
    const alice = w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const evil = generateIdentity();
    const spoofed = encodePacket({
      case: "holePunchInitiate",
      value: {
        $typeName: "holepunch.v1.HolePunchInitiate",
        peerName: "mallory",
        candidates: [{ $typeName: "holepunch.v1.Candidate", address: { $typeName: "holepunch.v1.Address", ip: Uint8Array.of(198, 18, 0, 66), port: 6666 }, kind: 1 }],
        token: new Uint8Array(16).fill(1),
        initiator: false,
        peerKey: evil.publicKey,
        auth: new Uint8Array(16),
        relay: false,
        peerMapping: 0,
      peerPortStep: 0,
      },
    });
    w.net.inject(spoofed, SERVER, { ip: "198.18.0.11", port: 5000 });
    w.net.clock.advance(2 * second);
    expect(alice.client.dropped.get("initiate_bad_auth")).toBe(1);
    expect(alice.client.link).toBeUndefined();
  });

  test("--peer-key: a peer introduced with another key is refused (exit 13)", () => {
    const w = world();
    w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const bob = w.peer("bob", "cone", "alice", undefined, 10 * second, undefined, { peerKey: generateIdentity().publicKey });
    w.net.clock.advance(3 * second);
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PEER_KEY_CHANGED" });
    expect(bob.exit).toBe(13);
    expect(connected(bob)).toBeUndefined();
  });

  test("known peers: a changed key is refused, never silently accepted", () => {
    const w = world();
    const trust = memoryTrust();
    trust.remember("alice", generateIdentity().publicKey); // we met a different "alice" before
    w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const bob = w.peer("bob", "cone", "alice", undefined, 10 * second, undefined, { trust });
    w.net.clock.advance(3 * second);
    expect(bob.events.at(-1)).toMatchObject({ event: "error", code: "PEER_KEY_CHANGED" });
    expect(bob.exit).toBe(13);
  });

  test("known peers: the first key is remembered (trust on first use)", () => {
    const w = world();
    const trust = memoryTrust();
    w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const bob = w.peer("bob", "cone", "alice", undefined, 10 * second, undefined, { trust });
    w.net.clock.advance(3 * second);
    expect(connected(bob)).toBeDefined();
    expect(trust.check("alice", w.identities.get("alice")!.publicKey)).toBe("known");
  });
});

describe("confidentiality and integrity", () => {
  test("a capture of the whole conversation holds no plaintext; peer traffic is Sealed", () => {
    const w = world();
    const captured: Uint8Array[] = [];
    w.net.tap = (b) => (captured.push(b), b);
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    const secret = "attack at dawn, the password is hunter2";
    bob.client.sendLine(secret);
    alice.client.sendLine(secret.toUpperCase());
    w.net.clock.advance(2 * second);
    expect(messages(alice)).toEqual([secret]);
    const needles = [secret, secret.toUpperCase(), "hunter2", "HUNTER2"].map((t) => new TextEncoder().encode(t));
    expect(captured.filter((b) => needles.some((n) => contains(b, n)))).toHaveLength(0);
    expect(captured.filter((b) => bodyOf(b)?.case === "sealed").length).toBeGreaterThanOrEqual(4);
  });

  test("tampered ciphertext is dropped; the line still arrives, once, by retransmission", () => {
    const w = world();
    let tampered = 0;
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    w.net.tap = (b) => {
      const body = bodyOf(b);
      if (body?.case === "sealed" && tampered < 3) {
        tampered++;
        const copy = b.slice();
        copy[copy.length - 20]! ^= 0x01; // one bit inside the ciphertext
        return copy;
      }
      return b;
    };
    bob.client.sendLine("integrity");
    w.net.clock.advance(5 * second);
    expect(tampered).toBe(3);
    expect(messages(alice)).toEqual(["integrity"]);
    const dropped = (alice.client.dropped.get("bad_seal") ?? 0) + (bob.client.dropped.get("bad_seal") ?? 0);
    expect(dropped).toBe(3);
  });

  test("a replayed Sealed packet is dropped by the replay window", () => {
    const w = world();
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    let captured: { b: Uint8Array; from: { ip: string; port: number }; to: { ip: string; port: number } } | undefined;
    w.net.tap = (b, from, to) => {
      if (!captured && bodyOf(b)?.case === "sealed" && to.ip !== SERVER.ip) captured = { b, from, to };
      return b;
    };
    bob.client.sendLine("once");
    w.net.clock.advance(1 * second);
    expect(messages(alice)).toEqual(["once"]);
    const before = alice.client.dropped.get("bad_seal") ?? 0;
    for (let i = 0; i < 5; i++) w.net.inject(captured!.b, captured!.from, captured!.to);
    w.net.clock.advance(1 * second);
    expect(messages(alice)).toEqual(["once"]);
    expect((alice.client.dropped.get("bad_seal") ?? 0) - before).toBe(5);
  });

  test("sessions rekey after a bounded number of packets and keep working", () => {
    const w = world(5, 1, {}, { rekey: { packets: 8, ms: 60 * second } });
    const epochs = new Set<number>();
    w.net.tap = (b) => {
      const body = bodyOf(b);
      if (body?.case === "sealed") epochs.add(body.value.epoch);
      return b;
    };
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    const lines = Array.from({ length: 60 }, (_, i) => `line ${i}`);
    for (const l of lines) {
      bob.client.sendLine(l);
      w.net.clock.advance(50); // one line per packet (written together they would share one)
    }
    w.net.clock.advance(20 * second);
    expect(messages(alice)).toEqual(lines);
    expect(Math.max(...epochs)).toBeGreaterThanOrEqual(5); // 60 packets of lines + their ACKs at 8 packets an epoch
  });
});

/**
 * Floods the world's server with `count` full registrations (hello, Challenge,
 * signed Register) from `source(i)`, in batches spread over `spanMs` of
 * simulated time; `during(i)` runs before each batch.
 */
function flood(w: ReturnType<typeof world>, count: number, spanMs: number, source: (i: number) => { ip: string; port: number }, during: (i: number) => void) {
  const server = w.server();
  const mallory = generateIdentity();
  const challenges = new Map<string, Uint8Array>();
  w.net.unbound = (b, _from, to) => {
    const body = bodyOf(b);
    if (body?.case === "challenge") challenges.set(`${to.ip}:${to.port}`, body.value.cookie);
  };
  const BATCH = 1_000;
  let maxSize = 0;
  for (let start = 0; start < count; start += BATCH) {
    during(start);
    const batch = Array.from({ length: Math.min(BATCH, count - start) }, (_, k) => ({ name: `flood-${start + k}`, from: source(start + k) }));
    for (const a of batch) server.handle(encodePacket(hello(a.name, mallory), 1n), a.from);
    w.net.clock.advance(10);
    for (const a of batch) {
      const cookie = challenges.get(`${a.from.ip}:${a.from.port}`);
      if (cookie) server.handle(encodePacket(signedRegister(a.name, mallory, cookie), 1n), a.from);
    }
    challenges.clear();
    w.net.clock.advance(Math.max(0, (spanMs * BATCH) / count - 10));
    maxSize = Math.max(maxSize, server.registry.size);
  }
  return maxSize;
}

test("flood: 100,000 names from many ports of one address are capped per IP and evicted; others register and connect meanwhile", () => {
  const w = world(0, 7, { ratePerSecond: 1e9, rateBurst: 1e9 });
  const server = w.server();
  let alice: ReturnType<typeof w.peer> | undefined;
  let bob: ReturnType<typeof w.peer> | undefined;
  const maxSize = flood(w, 100_000, 60 * second, (i) => ({ ip: "198.19.0.1", port: 1024 + (i % 60_000) }), (i) => {
    if (i === 20_000) alice = w.peer("alice", "cone");
    if (i === 50_000) bob = w.peer("bob", "cone", "alice");
  });
  w.net.clock.advance(3 * second);
  expect(maxSize).toBeLessThanOrEqual(64 + 2); // MAX_NAMES_PER_IP, plus alice and bob
  expect(server.stats.get("register_too_many_from_ip")).toBeGreaterThan(90_000);
  expect(server.registry.evicted).toBeGreaterThan(0); // silent flood entries made room for newer ones
  expect(connected(alice!)).toBeDefined();
  expect(connected(bob!)).toBeDefined();
  console.log(`flood (one IP): ${server.stats.get("register_ok")} accepted over time, at most ${maxSize} live, ${server.registry.evicted} evicted`);
}, 60_000);

test("flood from 2,000 addresses fills the registry: it stays capped, and registered clients keep working", () => {
  const CAP = 5_000;
  const w = world(0, 8, { maxClients: CAP, ratePerSecond: 1e9, rateBurst: 1e9 });
  const server = w.server();
  w.peer("alice", "cone");
  const bob = w.peer("bob", "cone"); // both registered before the flood
  w.net.clock.advance(1 * second);
  let carol: ReturnType<typeof w.peer> | undefined;
  const maxSize = flood(w, 20_000, 40 * second, (i) => ({ ip: `198.19.${(i / 10 / 250) | 0}.${((i / 10) | 0) % 250}`, port: 1000 + (i % 10) }), (i) => {
    if (i === 15_000) carol = w.peer("carol", "cone", "alice"); // asks for alice mid-flood
  });
  w.net.clock.advance(3 * second);
  expect(maxSize).toBeLessThanOrEqual(CAP);
  expect(server.registry.evicted).toBeGreaterThan(0);
  expect(server.registry.lookup("alice", w.net.clock.now())).toBeDefined(); // refreshed: never evicted
  expect(server.registry.lookup("bob", w.net.clock.now())).toBeDefined();
  // A newcomer competes with the flood for slots freed by silent entries; it
  // retries (REGISTRY_FULL) for its register timeout. Whether it wins is the
  // flood's rate against the eviction age: here it is reported, not assumed.
  console.log(`flood (2,000 IPs): carol ${connected(carol!) ? "connected" : JSON.stringify(carol!.events.at(-1))}`);
  expect(bob.client.server.isRegistered).toBe(true);
}, 60_000);

describe("robustness of the secured handshake", () => {
  test("400 ms round trips: retransmitted hellos and Challenges still leave both sides with one registration", () => {
    const w = world();
    w.net.latencyMs = 200;
    const alice = w.peer("alice", "cone");
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(15 * second);
    expect(connected(alice)).toBeDefined();
    expect(connected(bob)).toBeDefined();
    expect(alice.client.dropped.get("initiate_bad_auth")).toBeUndefined();
  });

  test("a forged UNSUPPORTED_VERSION or RATE_LIMITED (txid 0, from the server's address) cannot end a client", () => {
    const w = world();
    const alice = w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const err = (code: number, retryAfterMs: number) =>
      encodePacket({ case: "error", value: { $typeName: "holepunch.v1.Error", code, message: "", retryAfterMs, supportedVersions: [] } });
    w.net.inject(err(4, 0), SERVER, { ip: "198.18.0.11", port: 5000 });
    w.net.inject(err(3, 4_000_000_000), SERVER, { ip: "198.18.0.11", port: 5000 });
    w.net.clock.advance(2 * second);
    expect(alice.exit).toBeUndefined();
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(5 * second);
    expect(connected(bob)).toBeDefined();
    expect(connected(alice)).toBeDefined();
  });

  test("a stream of forged RATE_LIMITED hints cannot stall a registration", () => {
    const w = world();
    const rateLimited = encodePacket({ case: "error", value: { $typeName: "holepunch.v1.Error", code: 3, message: "", retryAfterMs: 1000, supportedVersions: [] } });
    const alice = w.peer("alice", "public");
    for (let t = 0; t < 25; t++) {
      w.net.inject(rateLimited, SERVER, { ip: "198.18.0.11", port: 5000 });
      w.net.clock.advance(200);
    }
    expect(alice.events[0]).toMatchObject({ event: "registered" });
  });

  test("hello padding: every name length and LAN-candidate count gives a hello of at least 128 bytes", () => {
    for (let len = 1; len <= 32; len++) {
      for (let locals = 0; locals <= 8; locals++) {
        const w = world();
        const sizes: number[] = [];
        w.net.tap = (b, _f, to) => (to.ip === SERVER.ip && sizes.push(b.length), b);
        const name = "n".repeat(len);
        const lan = Array.from({ length: locals }, (_, i) => ({ ip: `10.9.0.${i + 1}`, port: 5000 }));
        w.peer(name, "public", undefined, undefined, 30 * second, undefined, { locals: lan });
        expect(sizes[0]).toBeGreaterThanOrEqual(128);
      }
    }
  });

  test("a replayed old Initiate cannot tear down the current session", () => {
    const w = world();
    const initiates: Array<{ b: Uint8Array; to: { ip: string; port: number } }> = [];
    w.net.tap = (b, from, to) => {
      if (from.ip === SERVER.ip && bodyOf(b)?.case === "holePunchInitiate") initiates.push({ b, to });
      return b;
    };
    const alice = w.peer("alice", "public");
    w.net.clock.advance(1 * second);
    const bob = w.peer("bob", "cone", "alice");
    w.net.clock.advance(3 * second);
    w.net.lossPercent = 100;
    bob.client.close("crash");
    w.net.lossPercent = 0;
    const old = initiates.find((i) => i.to.ip === "198.18.0.11")!;
    const bob2 = w.peer("bob", "cone", "alice"); // a new attempt, a new token
    w.net.clock.advance(3 * second);
    expect(connected(bob2)).toBeDefined();
    w.net.inject(old.b, SERVER, old.to);
    w.net.clock.advance(1 * second);
    expect(alice.client.dropped.get("initiate_replayed")).toBe(1);
    bob2.client.sendLine("still here");
    w.net.clock.advance(1 * second);
    expect(messages(alice)).toEqual(["still here"]);
  });
});
