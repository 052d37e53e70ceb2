// Round-trip and mutation fuzzing of the codec, the server and the client:
// random and mutated datagrams never throw anything but DecodeError from the
// codec, never throw from a handler, and never get a reply from the server
// unless they decode to a valid request.
import { expect, test } from "bun:test";
import { ManualClock } from "../src/clock.ts";
import { HolePunchClient } from "../src/client/client.ts";
import { DecodeError } from "../src/errors.ts";
import { decodePacket, encodePacket } from "../src/protocol/packet.ts";
import { Rendezvous } from "../src/server/rendezvous.ts";
import { samples } from "./fixtures.ts";
import { prng } from "./support/prng.ts";
import { generateIdentity } from "../src/identity/keys.ts";

const ROUNDS = 200_000;


function mutate(seed: Uint8Array, rnd: () => number): Uint8Array {
  const b = Array.from(seed);
  const ops = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(rnd() * (b.length + 1));
    switch (Math.floor(rnd() * 5)) {
      case 0: // flip a bit (keep the prefix mostly intact so the protobuf parser is exercised)
        if (b.length > 4) b[4 + Math.floor(rnd() * (b.length - 4))]! ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // truncate
        b.length = Math.max(0, at);
        break;
      case 2: // insert random bytes
        b.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256)));
        break;
      case 3: // set a byte to an edge value
        if (b.length > 4) b[4 + Math.floor(rnd() * (b.length - 4))] = [0, 0x7f, 0x80, 0xff][Math.floor(rnd() * 4)]!;
        break;
      case 4: // duplicate a slice
        b.splice(at, 0, ...b.slice(Math.floor(rnd() * b.length), Math.floor(rnd() * b.length)));
        break;
    }
  }
  return Uint8Array.from(b);
}

test("every sample round-trips", () => {
  for (const s of samples) {
    const bytes = encodePacket(s.body, s.txid);
    expect(encodePacket(decodePacket(bytes).body, s.txid)).toEqual(bytes);
  }
});

test(`${ROUNDS.toLocaleString("en")} random and mutated datagrams: no crash, typed errors only`, () => {
  const rnd = prng(20261125);
  const seeds = samples.map((s) => encodePacket(s.body, s.txid));
  const clock = new ManualClock();
  let serverReplies = 0;
  const server = new Rendezvous({ send: () => serverReplies++, now: () => clock.now(), ratePerSecond: 1e9, rateBurst: 1e9 });
  const client = new HolePunchClient({
    server: { ip: "198.18.0.1", port: 39738 },
    name: "fuzz",
    identity: generateIdentity(),
    clock,
    send: () => {},
    onEvent: () => {},
  });
  client.start();
  const outcomes = { decoded: 0, rejected: 0 };
  let validRequests = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const bytes =
      rnd() < 0.1
        ? Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))
        : mutate(seeds[Math.floor(rnd() * seeds.length)]!, rnd);
    let kind: string | undefined;
    try {
      kind = decodePacket(bytes).body.case;
      outcomes.decoded++;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`non-DecodeError for ${Buffer.from(bytes).toString("hex")}: ${e}`);
      outcomes.rejected++;
    }
    if (kind === "register" || kind === "keepalive" || kind === "holePunchRequest" || kind === "unregister") validRequests++;
    const from = { ip: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 1000 + (i % 50000) };
    server.handle(bytes, from);
    client.handle(bytes, { ip: "198.18.0.1", port: 39738 });
    client.handle(bytes, from);
  }
  console.log(`fuzz: ${ROUNDS} datagrams, ${outcomes.decoded} decoded, ${outcomes.rejected} rejected, server replies ${serverReplies}`);
  expect(outcomes.decoded).toBeGreaterThan(ROUNDS / 20); // the mutator must reach the handlers
  // Only decodable requests (plus UNSUPPORTED_VERSION errors for version-byte mutations) are answered.
  expect(serverReplies).toBeLessThanOrEqual(validRequests * 2 + server.stats.droppedFor("unsupported_version"));
  expect(server.registry.size).toBeLessThanOrEqual(100_000);
}, 60_000);
