// `bun scripts/fuzz.ts [N]`: N (default 1,000,000) random and mutated
// datagrams against the server and a connected client, in one process.
// Seeds are real packets captured from a simulated session (signed
// registrations, Initiates, handshakes, sealed frames), so mutations reach
// the deep paths: signature checks, AEAD opens, frame parsing. Fails (exit 1)
// on any exception or unhandled rejection, or if memory grows without bound.
// Prints one JSON report line.
import { second } from "../src/constants.ts";
import { prng } from "../test/support/prng.ts";
import { classify, decodePacket } from "../src/protocol/packet.ts";
import type { Addr } from "../src/net/address.ts";
import { connected, SERVER, world } from "../test/support/sim-world.ts";

const N = Number(process.argv[2] ?? 1_000_000);
let failures = 0;
process.on("unhandledRejection", (e) => {
  failures++;
  console.error("unhandled rejection:", e);
});

const rnd = prng(20261125);

function mutate(seed: Uint8Array): Uint8Array {
  const b = Array.from(seed);
  for (let ops = 1 + Math.floor(rnd() * 4); ops > 0; ops--) {
    const at = Math.floor(rnd() * (b.length + 1));
    const body = () => 4 + Math.floor(rnd() * Math.max(1, b.length - 4));
    switch (Math.floor(rnd() * 6)) {
      case 0:
        if (b.length > 4) b[body()]! ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1:
        b.length = Math.max(0, at);
        break;
      case 2:
        b.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256)));
        break;
      case 3:
        if (b.length > 4) b[body()] = [0, 0x7f, 0x80, 0xff][Math.floor(rnd() * 4)]!;
        break;
      case 4:
        b.splice(at, 0, ...b.slice(Math.floor(rnd() * b.length), Math.floor(rnd() * b.length)));
        break;
      case 5:
        if (b.length > 4) b.splice(body(), 1 + Math.floor(rnd() * 4));
        break;
    }
  }
  return Uint8Array.from(b);
}

// A real session to capture seeds from, and to fuzz.
const w = world(0, 3);
const toServer: Uint8Array[] = [];
const toAlice: Array<{ b: Uint8Array; from: Addr }> = [];
w.net.tap = (b, from, to) => {
  if (to.ip === SERVER.ip) toServer.push(b);
  else if (to.ip === "198.18.0.11" || from.ip === SERVER.ip) toAlice.push({ b, from });
  return b;
};
const alice = w.peer("alice", "public");
w.net.clock.advance(1 * second);
const bob = w.peer("bob", "cone", "alice");
w.net.clock.advance(3 * second);
bob.client.sendLine("seed line");
alice.client.sendLine("seed reply");
w.net.clock.advance(2 * second);
w.net.tap = undefined;
if (!connected(alice) || !connected(bob)) throw new Error("seed session did not connect");
const server = w.server();

Bun.gc(true);
const rssBefore = process.memoryUsage().rss;
const counts = { datagrams: 0, decoded: 0, rejected: 0, toServer: 0, toClient: 0 };
const started = performance.now();
for (let i = 0; i < N; i++) {
  const r = rnd();
  let bytes: Uint8Array;
  let from: Addr;
  let target: "server" | "client";
  if (r < 0.05) {
    bytes = Uint8Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256));
    from = { ip: "198.18.9.9", port: 1 + (i % 60000) };
    target = rnd() < 0.5 ? "server" : "client";
  } else if (r < 0.5) {
    bytes = mutate(toServer[Math.floor(rnd() * toServer.length)]!);
    from = { ip: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 1000 + (i % 50000) };
    target = "server";
  } else {
    const s = toAlice[Math.floor(rnd() * toAlice.length)]!;
    bytes = mutate(s.b);
    from = s.from; // from the real sender's address: the hardest case for the client
    target = "client";
  }
  counts.datagrams++;
  if (classify(bytes) === "hp") {
    try {
      decodePacket(bytes);
      counts.decoded++;
    } catch {
      counts.rejected++;
    }
  } else counts.rejected++;
  try {
    if (target === "server") {
      counts.toServer++;
      server.handle(bytes, from);
    } else {
      counts.toClient++;
      alice.client.handle(bytes, from);
    }
  } catch (e) {
    failures++;
    if (failures < 5) console.error(`exception on ${Buffer.from(bytes).toString("hex")}:`, e);
  }
  if (i % 10_000 === 9_999) {
    w.net.clock.advance(50); // timers and sweeps run
    server.sweep();
  }
}
w.net.clock.advance(1 * second);
bob.client.sendLine("after the storm");
w.net.clock.advance(2 * second);
Bun.gc(true);
const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
const stillWorks = alice.events.some((e) => e.event === "message" && e.text === "after the storm");
const report = {
  ...counts,
  failures,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  rss_growth_mib: Math.round(rssGrowthMiB),
  registry_size: server.registry.size,
  server_dropped: Object.fromEntries(server.stats.dropped),
  client_dropped: Object.fromEntries(alice.client.dropped),
  session_survived: stillWorks,
};
console.log(JSON.stringify(report));
process.exit(failures === 0 && rssGrowthMiB < 256 && stillWorks ? 0 : 1);
