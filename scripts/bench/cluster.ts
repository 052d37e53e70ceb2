// The server cluster under load, beside the in-memory server, in one run:
// (a) 1 instance in memory, (b) 1 instance with Redis, (c) 2 instances with
// Redis, each server in its own process (scripts/bench/cluster-server.ts: rate
// limits and the per-IP name cap off), one redis-server started here (no
// persistence, FLUSHALL before each configuration). Registrations, then punch
// requests: the three configurations interleaved, ROUNDS times, fresh servers
// each time; a row shows a configuration's best round.
//
// - registrations/s: 64 generator sockets, closed loop, each registering a new
//   name every time (hello -> Challenge -> signed Register -> RegisterAck);
//   with 2 instances half the sockets use each. The generator signs (Ed25519)
//   on the same 2 cores, so the servers' CPU µs per registration (/proc) is the
//   figure that does not depend on it.
// - punch requests/s: 64 registered clients per instance, each asking (4 in
//   flight) for one peer: at the same instance with 1 instance, ALWAYS at the
//   other with 2 (Redis lookup + intro token script + pub/sub to the peer's
//   instance, which sends the target's Initiate). Counted: the requesters'
//   Initiates, and the targets' Initiates (so a lost half shows). Each request
//   reuses its pair's token (§4.3, cluster-wide): the path of a retried request.
//
// `bun scripts/bench/cluster.ts` prints the rows; HP_BENCH_DEBUG=1 also prints
// every server's counters.
import { ErrorCode } from "../../src/gen/holepunch/v1/holepunch_pb.ts";
import { generateIdentity } from "../../src/identity/keys.ts";
import { decodePacket, encodePacket } from "../../src/protocol/packet.ts";
import { hello, punchRequest, signedRegister } from "../../test/support/script-client.ts";
import { children, cpuNow, spawnServer, stop, type BenchServer as Server } from "./cluster-server.ts";
import { TestRedis as Redis } from "../../test/support/redis.ts";

const second = 1000;
const WARMUP = 1 * second;
const WINDOW = 4 * second;
const REG_SOCKETS = 64;
const PUNCH_PER_INSTANCE = 64;
const IN_FLIGHT = 4;
/** Each configuration runs this many times, interleaved with the others. */
const ROUNDS = 2;
/** No reply for this long: a datagram was lost (kernel buffers overflow under load); start again. */
const STALL = 1 * second;
const HOST = "127.0.0.1";
const ids = Array.from({ length: Math.max(REG_SOCKETS, 2 * PUNCH_PER_INSTANCE) }, () => generateIdentity());

type Config = { label: string; instances: number; redis: boolean };
const CONFIGS: Config[] = [
  { label: "in memory (1 instance)", instances: 1, redis: false },
  { label: "Redis (1 instance)", instances: 1, redis: true },
  { label: "Redis (2 instances)", instances: 2, redis: true },
];

/** After the warm-up, counts what `counters` count and the CPU every process (and the rest of the machine) spends over the window. */
async function measure(servers: Server[], redis: Redis | undefined, counters: () => number[]) {
  await Bun.sleep(WARMUP);
  const [n0, c0, t0] = [counters(), cpuNow(servers, redis), performance.now()];
  await Bun.sleep(WINDOW);
  const [n, c1, secs] = [counters().map((v, i) => v - n0[i]!), cpuNow(servers, redis), (performance.now() - t0) / second];
  const [serverCpu, redisCpu, genCpu] = [c1.servers - c0.servers, c1.redis - c0.redis, c1.self - c0.self];
  return { n, secs, serverCpu, redisCpu, genShare: genCpu / secs, otherShare: (c1.machine - c0.machine - serverCpu - redisCpu - genCpu) / secs };
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const replyName = (env: ReturnType<typeof decodePacket>) => (env.body.case === "error" ? `Error ${ErrorCode[env.body.value.code]}` : String(env.body.case));

/** Closed loop: every generator socket registers g<i>-<n> for n = 1, 2, … (one registration in flight each). */
async function registrations(servers: Server[], redis: Redis | undefined) {
  let [acks, restarts, running] = [0, 0, true];
  const others = new Map<string, number>();
  const gens = await Promise.all(
    Array.from({ length: REG_SOCKETS }, async (_, i) => {
      const port = servers[i % servers.length]!.port;
      const g = { n: 0, last: 0, fresh: () => {} };
      const sock = await Bun.udpSocket({
        hostname: HOST,
        port: 0,
        socket: {
          data(_s, buf) {
            const env = decodePacket(new Uint8Array(buf));
            if (!running || env.txid !== BigInt(g.n)) return; // stopped, or late for a restarted registration
            g.last = performance.now();
            if (env.body.case === "challenge") return void sock.send(encodePacket(signedRegister(`g${i}-${g.n}`, ids[i]!, env.body.value.cookie), env.txid), port, HOST);
            if (env.body.case === "registerAck") acks++;
            else bump(others, replyName(env));
            g.fresh();
          },
          error() {},
        },
      });
      g.fresh = () => {
        g.n++;
        g.last = performance.now();
        sock.send(encodePacket(hello(`g${i}-${g.n}`, ids[i]!), BigInt(g.n)), port, HOST);
      };
      return { g, sock };
    }),
  );
  for (const { g } of gens) g.fresh();
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const { g } of gens) if (now - g.last > STALL) (restarts++, g.fresh());
  }, 50);
  try {
    const m = await measure(servers, redis, () => [acks]);
    if (restarts) others.set("restarted after a lost datagram", restarts);
    return { ...m, others };
  } finally {
    running = false;
    clearInterval(watchdog);
    for (const { sock } of gens) sock.close();
  }
}

/** 4-byte varint txids (2^21 ≤ txid < 2^28): patched into a request in place, no re-encoding. */
const TXID_BASE = 2 ** 21;
function withTxid(p: Uint8Array, t: number): Uint8Array {
  [p[5], p[6], p[7], p[8]] = [(t & 0x7f) | 0x80, ((t >>> 7) & 0x7f) | 0x80, ((t >>> 14) & 0x7f) | 0x80, t >>> 21];
  return p;
}

/** An Initiate: > 0 answers our request (its txid), 0 tells us we are a target (no txid); else -(the body's field number). */
function kindOf(b: Uint8Array): number {
  let [i, txid] = [4, 0];
  if (b[i] === 0x08) {
    // Envelope.txid: field 1, varint
    for (let shift = 0, x = 0x80; x & 0x80; shift += 7) (x = b[++i]!), (txid += (x & 0x7f) * 2 ** shift);
    i++;
  }
  const field = ((b[i]! & 0x7f) | (b[i]! & 0x80 ? (b[i + 1]! & 0x7f) << 7 : 0)) >> 3;
  return field === 23 ? txid : -field; // 23: hole_punch_initiate
}

/** Socket j = instance k's client i asks for: the next client at the same instance (1 instance), the other instance's (2). */
function targetOf(j: number, instances: number): number {
  const [k, i, per] = [Math.floor(j / PUNCH_PER_INSTANCE), j % PUNCH_PER_INSTANCE, PUNCH_PER_INSTANCE];
  return instances === 1 || k === 1 ? (i + 1) % per : per + i;
}

/** Registers the clients, then each keeps IN_FLIGHT requests out (each txid answered or declared lost after STALL). */
async function punches(servers: Server[], redis: Redis | undefined) {
  let [sent, replies, late, targets, lost, nextTxid, phase] = [0, 0, 0, 0, 0, TXID_BASE, "register"];
  const others = new Map<string, number>();
  const name = (j: number) => `p${Math.floor(j / PUNCH_PER_INSTANCE)}-${j % PUNCH_PER_INSTANCE}`;
  type Slot = { txid: number; at: number };
  const cs = await Promise.all(
    Array.from({ length: PUNCH_PER_INSTANCE * servers.length }, async (_, j) => {
      const port = servers[Math.floor(j / PUNCH_PER_INSTANCE)]!.port;
      const c = { j, port, secret: undefined as Uint8Array | undefined, packet: new Uint8Array() as Uint8Array, slots: [] as Slot[], issue: (_s: Slot) => {} };
      const sock = await Bun.udpSocket({
        hostname: HOST,
        port: 0,
        socket: {
          data(s, buf) {
            if (phase === "register") {
              const env = decodePacket(new Uint8Array(buf));
              if (env.body.case === "challenge") s.send(encodePacket(signedRegister(name(j), ids[j]!, env.body.value.cookie), 1n), port, HOST);
              if (env.body.case === "registerAck") c.secret = env.body.value.secret;
              return;
            }
            if (phase === "drain") return;
            const k = kindOf(buf as Uint8Array);
            if (k === 0) return void targets++;
            if (k < 0) return void bump(others, `field ${-k}`);
            const slot = c.slots.find((x) => x.txid === k);
            if (!slot) return void late++; // declared lost and replaced already
            replies++;
            if (phase === "load") c.issue(slot);
            else slot.txid = 0;
          },
          error() {},
        },
      });
      c.issue = (slot) => {
        [slot.txid, slot.at] = [nextTxid++, performance.now()];
        sent++;
        sock.send(withTxid(c.packet, slot.txid), port, HOST);
      };
      return { c, sock };
    }),
  );
  for (let t = 0; t < 50 && cs.some(({ c }) => !c.secret); t++) {
    for (const { c, sock } of cs) if (!c.secret) sock.send(encodePacket(hello(name(c.j), ids[c.j]!), 1n), c.port, HOST);
    await Bun.sleep(100);
  }
  if (cs.some(({ c }) => !c.secret)) throw new Error(`${cs.filter(({ c }) => !c.secret).length} punch clients did not register`);
  phase = "drain"; // late RegisterAcks of the retries above are ignored
  await Bun.sleep(200);
  phase = "load";
  for (const { c } of cs) c.packet = encodePacket(punchRequest(name(targetOf(c.j, servers.length)), c.secret!), BigInt(TXID_BASE));
  for (const { c } of cs) for (let k = 0; k < IN_FLIGHT; k++) c.slots.push({ txid: 0, at: 0 }), c.issue(c.slots[k]!);
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const { c } of cs) for (const slot of c.slots) if (now - slot.at > STALL) (lost++, c.issue(slot));
  }, 50);
  try {
    const m = await measure(servers, redis, () => [replies, targets]);
    phase = "stop";
    clearInterval(watchdog);
    // The tail: wait until nothing more arrives, then every request should have had both Initiates.
    for (let before = -1, t = 0; before !== replies + late + targets && t < 30; t++) (before = replies + late + targets), await Bun.sleep(100);
    const unanswered = sent - replies - late;
    if (unanswered) others.set(`requests unanswered (of ${sent} sent)`, unanswered);
    if (replies + late - targets) others.set(`targets' Initiates missing (of ${replies + late})`, replies + late - targets);
    if (late) others.set("late replies", late);
    if (lost) others.set(`requests unanswered for ${STALL / second} s, sent again`, lost);
    return { ...m, others };
  } finally {
    clearInterval(watchdog);
    for (const { sock } of cs) sock.close();
  }
}

const rate = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)}k/s` : `${Math.round(x)}/s`);
const us = (cpuSecs: number, n: number) => `${Math.round((cpuSecs * 1e6) / n)} µs`;
const share = (x: number) => `${Math.round(x * 100)} %`;

/** Counters that say something went wrong (drops, failed or unusable cluster messages, errors sent). */
function anomalies(stats: Record<string, unknown>[]): string[] {
  const out: string[] = [];
  stats.forEach((s, i) => {
    for (const [k, v] of Object.entries(s.dropped_by_reason as Record<string, number>)) out.push(`#${i} dropped ${k} ${v}`);
    for (const [k, v] of Object.entries(s)) if (/fail|gone|unknown|taken|error|not_registered|malformed/.test(k) && typeof v === "number" && v > 0) out.push(`#${i} ${k} ${v}`);
    if (s.redis_up === false) out.push(`#${i} redis down`);
  });
  return out;
}

async function run(cfg: Config, redis: Redis | undefined, load: typeof registrations | typeof punches) {
  if (cfg.redis) await redis!.send("FLUSHALL", []);
  const args = (k: number) => (cfg.redis ? ["--redis", redis!.url, "--instance", `bench-${"ab"[k]}`] : []);
  const servers: Server[] = [];
  try {
    for (let k = 0; k < cfg.instances; k++) servers.push(await spawnServer(args(k)));
    const r = await load(servers, cfg.redis ? redis : undefined);
    await Bun.sleep(200); // let the pub/sub tail land before reading the counters
    const stats = await Promise.all(servers.map((s) => s.stats()));
    if (process.env.HP_BENCH_DEBUG) console.error(`${cfg.label}, ${load.name}:`, JSON.stringify(stats));
    for (const s of servers) if (s.p.exitCode !== null) throw new Error(`a server exited (${s.p.exitCode}) during ${cfg.label}`);
    return { ...r, notes: [...[...r.others].map(([k, v]) => `${v} × ${k}`), ...anomalies(stats)] };
  } finally {
    await Promise.all(servers.map((s) => stop(s.p)));
  }
}

type Result = Awaited<ReturnType<typeof run>>;
const perSecond = (r: Result) => r.n[0]! / r.secs;

function cpuText(m: Result, n: number, what: string, redis: boolean): string {
  const rd = !redis ? "" : m.redisCpu * 1e6 < n ? "; redis-server idle (not on this path)" : `; redis-server ${us(m.redisCpu, n)} CPU/${what}`;
  return `servers ${us(m.serverCpu, n)} CPU/${what} (${share(m.serverCpu / m.secs)} of a core)${rd}; generator ${share(m.genShare)} of a core${m.otherShare > 0.15 ? `; DISTURBED: the rest of the machine used ${share(m.otherShare)} of a core` : ""}`;
}

/** The rows of one load: each configuration, then each Redis configuration against the in-memory one. */
function rowsOf(rs: Result[], what: string, per: string): Array<[string, string]> {
  const rows = CONFIGS.map((cfg, i): [string, string] => {
    const [r, where] = [rs[i]!, cfg.instances === 1 ? ", peer at the same instance" : ", peer always at the other instance"];
    const [n, targets] = [r.n[0]!, r.n[1]];
    const half = targets === undefined ? "" : `; targets' Initiates ${((targets / n) * 100).toFixed(1)} % of the requesters'`;
    const notes = r.notes.length ? ` (${[...new Set(r.notes)].join(", ")})` : "";
    return [`cluster: ${what}/s, ${cfg.label}${targets === undefined ? "" : where}`, `${rate(n / r.secs)}${half}; ${cpuText(r, n, per, cfg.redis)}${notes}`];
  });
  const cpuPer = (r: Result) => (r.serverCpu + r.redisCpu) / r.n[0]!;
  for (const i of [1, 2]) {
    const ratio = `${(perSecond(rs[i]!) / perSecond(rs[0]!)).toFixed(2)}× the rate; ${(cpuPer(rs[i]!) / cpuPer(rs[0]!)).toFixed(2)}× the CPU per ${per} (servers + redis-server)`;
    rows.push([`cluster: ${what}, ${i} instance${i > 1 ? "s" : ""} + Redis / 1 in memory`, ratio]);
  }
  return rows;
}

export async function benchCluster(): Promise<Array<[string, string]>> {
  let redis: Redis | undefined;
  const onSignal = () => (children.forEach((p) => p.kill(9)), redis?.process?.kill(9), process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    redis = await Redis.start();
    const rows: Array<[string, string]> = [];
    for (const [load, what, per] of [[registrations, "registrations", "registration"], [punches, "punch requests", "request"]] as const) {
      // Interleaved rounds, in turn forwards and backwards (the first of a series runs slower): each configuration
      // keeps its best round (other processes come and go), and every round's notes.
      const best: Result[] = [];
      for (let round = 0; round < ROUNDS; round++)
        for (const [i, cfg] of round % 2 ? [...CONFIGS.entries()].reverse() : CONFIGS.entries()) {
          const [r, prev] = [await run(cfg, redis, load), best[i]];
          if (prev && perSecond(prev) >= perSecond(r)) prev.notes.push(...r.notes);
          else best[i] = { ...r, notes: [...(prev?.notes ?? []), ...r.notes] };
        }
      rows.push(...rowsOf(best, what, per));
    }
    return rows;
  } finally {
    await redis?.kill();
    for (const p of [...children]) await stop(p);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  const rows = await benchCluster();
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}
