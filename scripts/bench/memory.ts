// Server memory per registration: a fresh process registers N clients from
// N distinct addresses and reports heap and RSS growth per client. Run as a
// child per N:
//   bun scripts/bench/memory.ts N             the registry alone, filled directly
//   bun scripts/bench/memory.ts N --locals 2  ... each client with two LAN candidates
//   bun scripts/bench/memory.ts N --server    the whole server: hello, Challenge and a
//     signed Register each through Rendezvous.handle (real Ed25519), measured right
//     after the burst (the replay cache and the rate-limit buckets still full) and
//     once they have expired and been swept (what stays: the registry).
// A warm-up on a throwaway instance first, so the JIT's own memory is not
// counted per client.
import { Rendezvous } from "../../src/server/rendezvous.ts";
import { Registry } from "../../src/server/registry.ts";
import { COOKIE_LIFETIME, second } from "../../src/constants.ts";
import { generateIdentity } from "../../src/identity/keys.ts";
import { decodePacket, encodePacket } from "../../src/protocol/packet.ts";
import { toWireAddress } from "../../src/protocol/wire-address.ts";
import type { Addr } from "../../src/net/address.ts";
import { hello, signedRegister } from "../../test/support/script-client.ts";

/** The i-th client's address: distinct IPv4 addresses for i < 2^24. */
const addressOf = (i: number): Addr => ({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) });
const lanOf = (i: number, k: number): Addr[] => Array.from({ length: k }, (_, j) => ({ ip: `192.168.${j}.${1 + (i % 250)}`, port: 40000 + j }));

/** The registry as the server holds it (signing and verifying 1M registrations would take minutes). */
function fillRegistry(registry: Registry, n: number, locals: number, first = 0): void {
  for (let i = first; i < first + n; i++) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const secret = crypto.getRandomValues(new Uint8Array(16));
    const res = registry.register(`client-${i}`, key, secret, addressOf(i), lanOf(i, locals), 0);
    if (!res.ok) throw new Error(res.code);
  }
}

/** N clients registering through the protocol, one every `spacingMs` of simulated time. */
function fillServer(n: number, first = 0) {
  let now = 0;
  let reply: Uint8Array | undefined;
  const spacingMs = (10 * second) / n; // all within 10 s: none expires before the steady-state measurement
  const core = new Rendezvous({ send: (bytes) => (reply = bytes), now: () => now, maxClients: n + 1, maxPerIp: 64 });
  const id = generateIdentity(); // one key for all names: the registry stores a key per name all the same
  for (let i = first; i < first + n; i++) {
    now = (i - first) * spacingMs;
    const name = `client-${i}`;
    const from = addressOf(i);
    core.handle(encodePacket(hello(name, id), 1n), from);
    const challenge = decodePacket(reply!);
    if (challenge.body.case !== "challenge") throw new Error(`no Challenge: ${challenge.body.case}`);
    core.handle(encodePacket(signedRegister(name, id, challenge.body.value.cookie, "", lanOf(i, 2).map(toWireAddress)), 2n), from);
    if (decodePacket(reply!).body.case !== "registerAck") throw new Error("not registered");
  }
  return {
    core,
    /** Past the cookie lifetime and the rate buckets' refill, before any registration's TTL. */
    settle() {
      now = 10 * second + COOKIE_LIFETIME + second;
      core.sweep();
    },
  };
}

function measure<T>(n: number, fill: () => T, check: (t: T) => number): { t: T; heap: number; rss: number } {
  Bun.gc(true);
  const before = process.memoryUsage();
  const t = fill();
  Bun.gc(true);
  const after = process.memoryUsage();
  if (check(t) !== n) throw new Error(`registered ${check(t)}, wanted ${n}`);
  return { t, heap: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n };
}

if (import.meta.main) {
  const n = Number(process.argv[2]);
  const locals = process.argv.includes("--locals") ? Number(process.argv[process.argv.indexOf("--locals") + 1]) : 0;
  if (!process.argv.includes("--server")) {
    fillRegistry(new Registry(10_001, 45_000), 10_000, locals, 1 << 23); // warm-up
    const r = measure(n, () => {
      const registry = new Registry(n + 1, 45_000);
      fillRegistry(registry, n, locals);
      return registry;
    }, (registry) => registry.size);
    console.log(JSON.stringify({ heap: r.heap, rss: r.rss }));
  } else {
    fillServer(2_000, 1 << 23); // warm-up
    const burst = measure(n, () => fillServer(n), (s) => s.core.registry.size);
    const before = process.memoryUsage();
    burst.t.settle();
    Bun.gc(true);
    const after = process.memoryUsage();
    if (burst.t.core.registry.size !== n) throw new Error("registrations expired");
    const steady = { heap: burst.heap + (after.heapUsed - before.heapUsed) / n, rss: burst.rss + (after.rss - before.rss) / n };
    console.log(JSON.stringify({ burst: { heap: burst.heap, rss: burst.rss }, steady }));
  }
}

function run(args: string[]): Record<string, unknown> {
  const p = Bun.spawnSync([process.execPath, import.meta.path, ...args], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(p.stderr.toString());
  return JSON.parse(p.stdout.toString());
}

const perClient = (r: { heap: number; rss: number }) => `${Math.round(r.heap)} B heap, ${Math.round(r.rss)} B RSS per client`;

export async function benchMemory(): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const n of [100_000, 1_000_000]) {
    const at = n.toLocaleString("en");
    out.push([`registry memory at ${at} registrations`, perClient(run([String(n)]) as { heap: number; rss: number })]);
    out.push([`registry memory at ${at} registrations, 2 LAN candidates each`, perClient(run([String(n), "--locals", "2"]) as { heap: number; rss: number })]);
  }
  const s = run(["100000", "--server"]) as { burst: { heap: number; rss: number }; steady: { heap: number; rss: number } };
  out.push(["server memory at 100,000 registrations, during the burst (replay cache, rate buckets)", perClient(s.burst)]);
  out.push(["server memory at 100,000 registrations, after the sweep", perClient(s.steady)]);
  return out;
}
