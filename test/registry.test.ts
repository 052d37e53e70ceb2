// The typed-array Registry: every rule in a table of named scenarios, handle
// and field round trips, growth, and a seeded differential test against the
// Map-based model it replaced (test/support/registry-model.ts).
import { describe, expect, test } from "bun:test";
import type { Addr } from "../src/net/address.ts";
import { Registry, type Registration } from "../src/server/registry.ts";
import { prng } from "./support/prng.ts";
import { RegistryModel, type ModelReg } from "./support/registry-model.ts";

const second = 1000;
const TTL = 45 * second;
const SILENT = 15 * second;
const A = (ip: string, port: number): Addr => ({ ip, port });
const key = (n: number) => new Uint8Array(32).fill(n);
const fresh = () => crypto.getRandomValues(new Uint8Array(16));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Everything a caller can read of a registration. */
function view(r: Registration | ModelReg) {
  const a = (x: Addr) => ({ ip: x.ip, port: x.port });
  return { name: r.name, publicKey: hex(r.publicKey), secret: hex(r.secret), observed: a(r.observed), locals: r.locals.map(a), expiresAt: r.expiresAt, mapping: r.mapping };
}

// ---- scenarios: `at` is the clock in seconds; secrets are the last ones the registry handed out ----

type Outcome = "new" | "same" | "moved" | "NAME_TAKEN" | "REGISTRY_FULL" | "TOO_MANY_FROM_IP";
type Step = { at?: number } & (
  | { register: [name: string, key: number, from: Addr]; expect: Outcome; secret?: "kept" | "fresh" }
  | { refresh: [from: Addr, name: string]; wrongSecret?: boolean; expect: boolean }
  | { unregister: [from: Addr, name: string]; wrongSecret?: boolean; expect: "removed" | "absent" | "mismatch" }
  | { sweep: number }
  | { names: Record<string, Addr | undefined> }
  | { holder: [Addr, string | undefined] }
  | { size: number; evicted?: number }
);
interface Scenario {
  name: string;
  max?: number;
  perIp?: number;
  steps: Step[];
}

const p1 = A("198.51.100.1", 1000);
const p2 = A("198.51.100.1", 2000);
const p3 = A("198.51.100.1", 3000);
const x = A("203.0.113.9", 1000);
const y = A("203.0.113.10", 1000);
const v6a = A("2001:db8::1", 1000);
const v6b = A("2001:db8::ffff:2", 1000);
const v6c = A("2001:db8:0:1::1", 1000);

const scenarios: Scenario[] = [
  { name: "registers; found by name and by address", steps: [{ register: ["alice", 1, p1], expect: "new" }, { names: { alice: p1, bob: undefined } }, { holder: [p1, "alice"] }, { holder: [p2, undefined] }, { size: 1 }] },
  { name: "same key, same address: the secret is kept", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 5, register: ["alice", 1, p1], expect: "same", secret: "kept" }, { size: 1 }] },
  { name: "same key, new address: moved, new secret, old address free", steps: [{ register: ["alice", 1, p1], expect: "new" }, { register: ["alice", 1, x], expect: "moved", secret: "fresh" }, { holder: [p1, undefined] }, { holder: [x, "alice"] }, { size: 1 }] },
  { name: "another key: NAME_TAKEN while live, free once expired", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 44, register: ["alice", 2, x], expect: "NAME_TAKEN" }, { at: 45, register: ["alice", 2, x], expect: "new" }, { holder: [p1, undefined] }] },
  { name: "one address holds one registration", steps: [{ register: ["alice", 1, p1], expect: "new" }, { register: ["bob", 2, p1], expect: "new" }, { names: { alice: undefined, bob: p1 } }, { size: 1 }] },
  { name: "a refresh extends the TTL; expiry is at exactly expiresAt", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 40, refresh: [p1, "alice"], expect: true }, { at: 84, names: { alice: p1 } }, { at: 85, names: { alice: undefined } }, { size: 0 }] },
  { name: "refresh needs the address, the name and the secret", steps: [{ register: ["alice", 1, p1], expect: "new" }, { refresh: [p2, "alice"], expect: false }, { refresh: [p1, "bob"], expect: false }, { refresh: [p1, "alice"], wrongSecret: true, expect: false }, { refresh: [p1, "alice"], expect: true }] },
  { name: "unregister: removed, then absent; mismatch changes nothing", steps: [{ register: ["alice", 1, p1], expect: "new" }, { unregister: [p1, "alice"], wrongSecret: true, expect: "mismatch" }, { unregister: [p1, "bob"], expect: "mismatch" }, { unregister: [p1, "alice"], expect: "removed" }, { unregister: [p1, "alice"], expect: "absent" }, { size: 0 }] },
  { name: "lookup removes an expired entry lazily", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 46, size: 1 }, { names: { alice: undefined } }, { size: 0 }, { sweep: 0 }] },
  { name: "byAddress removes an expired entry lazily", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 46, holder: [p1, undefined] }, { size: 0 }] },
  { name: "expired: refresh and unregister see nothing", steps: [{ register: ["alice", 1, p1], expect: "new" }, { at: 45, refresh: [p1, "alice"], expect: false }, { unregister: [p1, "alice"], expect: "absent" }] },
  {
    name: "sweep removes in refresh order and stops at the first live entry",
    steps: [{ register: ["a", 1, p1], expect: "new" }, { at: 1, register: ["b", 1, p2], expect: "new" }, { at: 2, register: ["c", 1, p3], expect: "new" }, { at: 3, refresh: [p1, "a"], expect: true }, { at: 47, sweep: 2 }, { names: { a: p1, b: undefined, c: undefined } }, { at: 48, sweep: 1 }, { size: 0 }],
  },
  { name: "sweep goes by refresh order, not expiry (a clock stepping back)", steps: [{ at: 10, register: ["a", 1, p1], expect: "new" }, { at: 5, register: ["b", 1, p2], expect: "new" }, { at: 52, sweep: 0 }, { size: 2 }, { names: { b: undefined } }, { size: 1 }] },
  { name: "full: a fresh oldest entry is not evicted", max: 2, steps: [{ register: ["a", 1, p1], expect: "new" }, { register: ["b", 1, x], expect: "new" }, { at: 14, register: ["c", 1, y], expect: "REGISTRY_FULL" }, { size: 2, evicted: 0 }] },
  {
    name: "full: the least recently refreshed entry is evicted once silent",
    max: 2,
    steps: [{ register: ["a", 1, p1], expect: "new" }, { at: 5, register: ["b", 1, x], expect: "new" }, { at: 10, refresh: [p1, "a"], expect: true }, { at: 19, register: ["c", 1, y], expect: "REGISTRY_FULL" }, { at: 20, register: ["c", 1, y], expect: "new" }, { names: { a: p1, b: undefined, c: y } }, { size: 2, evicted: 1 }],
  },
  { name: "full: expired entries are swept first (not counted as evicted)", max: 2, steps: [{ register: ["a", 1, p1], expect: "new" }, { at: 30, register: ["b", 1, x], expect: "new" }, { at: 45, register: ["c", 1, y], expect: "new" }, { size: 2, evicted: 0 }] },
  { name: "full: re-registering a held name needs no room", max: 1, steps: [{ register: ["a", 1, p1], expect: "new" }, { register: ["a", 1, x], expect: "moved" }, { register: ["b", 1, y], expect: "REGISTRY_FULL" }] },
  {
    name: "per IP: capped, other IPs unaffected, the IP's least recently refreshed silent entry goes",
    perIp: 2,
    steps: [{ register: ["a", 1, p1], expect: "new" }, { at: 1, register: ["b", 1, p2], expect: "new" }, { at: 2, refresh: [p1, "a"], expect: true }, { register: ["c", 1, p3], expect: "TOO_MANY_FROM_IP" }, { register: ["d", 1, x], expect: "new" }, { at: 16, register: ["c", 1, p3], expect: "new" }, { names: { a: p1, b: undefined, c: p3, d: x } }, { size: 3, evicted: 1 }],
  },
  { name: "per IP: taking over an address of that IP does not count it", perIp: 2, steps: [{ register: ["a", 1, p1], expect: "new" }, { register: ["b", 1, p2], expect: "new" }, { register: ["c", 1, p1], expect: "new" }, { names: { a: undefined, b: p2, c: p1 } }, { size: 2, evicted: 0 }] },
  { name: "per IP: a name moving within its IP needs no room", perIp: 1, steps: [{ register: ["a", 1, p1], expect: "new" }, { register: ["a", 1, p2], expect: "moved" }, { register: ["b", 1, p3], expect: "TOO_MANY_FROM_IP" }] },
  {
    name: "per IP: IPv6 counts per /64",
    perIp: 2,
    steps: [{ register: ["a", 1, v6a], expect: "new" }, { register: ["b", 1, v6b], expect: "new" }, { register: ["c", 1, A("2001:db8::1", 2000)], expect: "TOO_MANY_FROM_IP" }, { register: ["c", 1, v6c], expect: "new" }, { holder: [v6b, "b"] }, { holder: [A("2001:db8::ffff:2", 1001), undefined] }],
  },
  { name: "per IP: IPv4 counts per address", perIp: 1, steps: [{ register: ["a", 1, x], expect: "new" }, { register: ["b", 1, y], expect: "new" }, { register: ["c", 1, A("203.0.113.9", 2)], expect: "TOO_MANY_FROM_IP" }] },
];

function runScenario(sc: Scenario): void {
  const r = new Registry(sc.max ?? 100, TTL, sc.perIp ?? Number.POSITIVE_INFINITY, SILENT);
  const secrets = new Map<string, Uint8Array>();
  const secretOf = (name: string, wrong?: boolean) => (wrong ? fresh() : (secrets.get(name) ?? fresh()));
  let now = 0;
  for (const step of sc.steps) {
    if (step.at !== undefined) now = step.at * second;
    if ("register" in step) {
      const [name, k, from] = step.register;
      const res = r.register(name, key(k), fresh(), from, [], now);
      expect(res.ok ? (res.isNew ? "new" : res.moved ? "moved" : "same") : res.code).toBe(step.expect);
      if (!res.ok) continue;
      if (step.secret) expect(hex(res.reg.secret) === hex(secrets.get(name)!)).toBe(step.secret === "kept");
      secrets.set(name, res.reg.secret);
    } else if ("refresh" in step) expect(r.refresh(step.refresh[0], step.refresh[1], secretOf(step.refresh[1], step.wrongSecret), now) !== undefined).toBe(step.expect);
    else if ("unregister" in step) expect(r.unregister(step.unregister[0], step.unregister[1], secretOf(step.unregister[1], step.wrongSecret), now)).toBe(step.expect);
    else if ("sweep" in step) expect(r.sweep(now)).toBe(step.sweep);
    else if ("names" in step) for (const [n, at] of Object.entries(step.names)) expect(r.lookup(n, now)?.observed).toEqual(at);
    else if ("holder" in step) expect(r.byAddress(step.holder[0], now)?.name).toBe(step.holder[1]);
    else {
      expect(r.size).toBe(step.size);
      if (step.evicted !== undefined) expect(r.evicted).toBe(step.evicted);
    }
  }
}

describe("registry rules", () => {
  for (const sc of scenarios) test(sc.name, () => runScenario(sc));
});

describe("registrations are handles", () => {
  test("a handle outlives its registration only as 'gone': a reused slot is not mistaken for it", () => {
    const r = new Registry(10, TTL);
    const alice = r.register("alice", key(1), fresh(), p1, [], 0);
    if (!alice.ok) throw new Error("alice");
    expect(r.unregister(p1, "alice", alice.reg.secret, 0)).toBe("removed");
    const bob = r.register("bob", key(2), fresh(), p1, [], 0);
    if (!bob.ok) throw new Error("bob");
    expect(bob.reg.slot).toBe(alice.reg.slot); // the freed slot is reused...
    expect(alice.reg.current).toBe(false); // ...but the old handle knows
    expect(alice.reg.is(bob.reg)).toBe(false);
    expect(() => alice.reg.secret).toThrow();
    expect(() => (alice.reg.mapping = 1)).toThrow();
    expect(r.refresh(p1, "bob", bob.reg.secret, 1)!.is(bob.reg)).toBe(true); // a refresh keeps the registration
    expect(r.lookup("bob", 1)!.is(bob.reg)).toBe(true);
    const again = r.register("bob", key(2), fresh(), p1, [], 2); // registering again replaces it
    expect(again.ok && again.reg.is(bob.reg)).toBe(false);
    expect(bob.reg.current).toBe(false);
  });

  test("mapping: set through a handle, carried over by re-registration, 0 for a new name", () => {
    const r = new Registry(10, TTL);
    const a = r.register("alice", key(1), fresh(), p1, [], 0);
    if (!a.ok) throw new Error("alice");
    expect(a.reg.mapping).toBe(0);
    r.lookup("alice", 0)!.mapping = 2;
    expect(a.reg.mapping).toBe(2);
    const moved = r.register("alice", key(1), fresh(), x, [], 1);
    expect(moved.ok && moved.reg.mapping).toBe(2);
    r.unregister(x, "alice", r.lookup("alice", 1)!.secret, 1);
    const again = r.register("alice", key(1), fresh(), x, [], 1);
    expect(again.ok && again.reg.mapping).toBe(0);
  });

  test("byte fields are copies", () => {
    const r = new Registry(10, TTL);
    r.register("alice", key(1), fresh(), p1, [], 0);
    r.lookup("alice", 0)!.secret.fill(0);
    r.lookup("alice", 0)!.publicKey.fill(0);
    expect(hex(r.lookup("alice", 0)!.publicKey)).toBe(hex(key(1)));
    expect(r.lookup("alice", 0)!.secret.some((b) => b !== 0)).toBe(true);
  });
});

describe("fields round-trip through the columns and the spill", () => {
  const rows: Array<[string, string, Addr, Addr[]]> = [
    ["one-letter name, no LAN address", "a", p1, []],
    ["32-character name, two IPv4 LAN addresses", "n".repeat(32), p1, [A("10.0.0.2", 5000), A("192.168.1.9", 1)]],
    ["33-character name (spilled)", "n".repeat(33), p1, []],
    ["non-Latin-1 name (spilled)", "名前", p1, []],
    ["Latin-1 name", "café", p1, []],
    ["three LAN addresses (spilled)", "b", p1, [A("10.0.0.2", 1), A("10.0.0.3", 2), A("10.0.0.4", 3)]],
    ["an IPv6 LAN address (spilled)", "c", p1, [A("10.0.0.2", 1), A("fd00::2", 2)]],
    ["observed over IPv6", "d", A("2001:db8::7", 443), [A("fe80::1", 9)]],
    ["edge IPv4 values", "e", A("255.255.255.255", 65535), [A("0.0.0.0", 0)]],
    ["a non-canonical IPv4 text is kept as text", "f", A("010.0.0.1", 7), []],
  ];
  for (const [label, name, observed, locals] of rows) {
    test(label, () => {
      const r = new Registry(10, TTL);
      const res = r.register(name, key(7), fresh(), observed, locals, 1234);
      if (!res.ok) throw new Error(res.code);
      const got = view(r.lookup(name, 1234)!);
      expect(got).toEqual({ ...got, name, publicKey: hex(key(7)), observed, locals, expiresAt: 1234 + TTL, mapping: 0 });
      expect(r.byAddress(observed, 1234)?.name).toBe(name);
      expect(r.unregister(observed, name, res.reg.secret, 1234)).toBe("removed");
      expect(r.size).toBe(0);
    });
  }
  test("'010.0.0.1' and '10.0.0.1' are different addresses, as they always were", () => {
    const r = new Registry(10, TTL);
    r.register("a", key(1), fresh(), A("010.0.0.1", 7), [], 0);
    expect(r.byAddress(A("10.0.0.1", 7), 0)).toBeUndefined();
  });
  test("wrong-sized keys and ports that do not fit are refused before anything changes", () => {
    const r = new Registry(10, TTL);
    expect(() => r.register("a", new Uint8Array(31), fresh(), p1, [], 0)).toThrow(RangeError);
    expect(() => r.register("a", key(1), fresh(), A("10.0.0.1", 70000), [], 0)).toThrow(RangeError);
    expect(r.size).toBe(0);
  });
});

test("grows past its initial capacity and keeps every entry findable", () => {
  const r = new Registry(Number.POSITIVE_INFINITY, TTL);
  const at = (i: number) => A(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1000 + (i % 7));
  const n = 5000;
  for (let i = 0; i < n; i++) expect(r.register(`c${i}`, key(i & 255), fresh(), at(i), [], i).ok).toBe(true);
  for (let i = 0; i < n; i += 2) r.unregister(at(i), `c${i}`, r.lookup(`c${i}`, n)!.secret, n);
  for (let i = n; i < n + 3000; i++) expect(r.register(`c${i}`, key(1), fresh(), at(i), [], i).ok).toBe(true);
  expect(r.size).toBe(n / 2 + 3000);
  for (let i = 0; i < n + 3000; i++) expect(r.lookup(`c${i}`, n)?.observed).toEqual(i < n && i % 2 === 0 ? undefined : at(i));
  for (let i = 1; i < n; i += 2) expect(r.byAddress(at(i), n)?.name).toBe(`c${i}`);
  expect([...r.entries()].map((e) => e.name)).toEqual([...Array.from({ length: n / 2 }, (_, k) => `c${2 * k + 1}`), ...Array.from({ length: 3000 }, (_, k) => `c${n + k}`)]);
});

// ---- differential: the same random operations on the Registry and on the model ----

interface Config {
  seed: number;
  ops: number;
  max: number;
  perIp: number;
  names: number;
  addrs: Addr[];
  /** Compare the whole refresh order every this many operations. */
  fullEvery: number;
}

function differential(c: Config): void {
  const rand = prng(c.seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)]!;
  const r = new Registry(c.max, TTL, c.perIp, SILENT);
  const m = new RegistryModel(c.max, TTL, c.perIp, SILENT);
  const names = Array.from({ length: c.names }, (_, i) => (i % 17 === 16 ? `long-name-${i}-`.padEnd(40, "x") : `n${i}`));
  const lan = [A("10.0.0.2", 5000), A("192.168.0.7", 6000), A("fd00::3", 7000), A("172.16.0.1", 1)];
  const handles: Array<[Registration, ModelReg]> = [];
  const same = (a: Registration | undefined, b: ModelReg | undefined) => expect(a && view(a)).toEqual(b && view(b));
  /** Mostly the secret the model holds for the name (so refreshes succeed), sometimes a wrong one. */
  const secretFor = (name: string) => (rand() < 0.8 ? m.entries().find((e) => e.name === name)?.secret : undefined) ?? fresh();
  let now = 0;
  for (let i = 0; i < c.ops; i++) {
    const op = rand();
    const name = pick(names);
    const from = pick(c.addrs);
    if (op < 0.35) {
      const k = key(1 + int(2));
      const secret = fresh();
      const locals = lan.slice(int(3), int(5));
      const got = r.register(name, k, secret, from, locals, now);
      const want = m.register(name, k, secret, from, locals, now);
      expect(got.ok ? { moved: got.moved, isNew: got.isNew } : got.code).toEqual(want.ok ? { moved: want.moved, isNew: want.isNew } : want.code);
      if (got.ok && want.ok) {
        same(got.reg, want.reg);
        handles.push([got.reg, want.reg]);
        if (handles.length > 40) handles.shift();
      }
    } else if (op < 0.5) {
      const s = secretFor(name);
      same(r.refresh(from, name, s, now), m.refresh(from, name, s, now));
    } else if (op < 0.55) {
      const s = secretFor(name);
      expect(r.unregister(from, name, s, now)).toBe(m.unregister(from, name, s, now));
    } else if (op < 0.65) same(r.lookup(name, now), m.lookup(name, now));
    else if (op < 0.75) same(r.byAddress(from, now), m.byAddress(from, now));
    else if (op < 0.8) expect(r.sweep(now)).toBe(m.sweep(now));
    else if (op < 0.85 && handles.length > 0) {
      const [h, mh] = pick(handles);
      if (h.current) h.mapping = mh.mapping = 1 + int(3);
    } else now += int(12 * second);
    expect([r.size, r.evicted]).toEqual([m.size, m.evicted]);
    for (const [h, mh] of handles) expect(h.current).toBe(m.holds(mh));
    if (handles.length > 1) {
      const [a, ma] = pick(handles);
      const [b, mb] = pick(handles);
      expect(a.is(b)).toBe(ma === mb);
    }
    if (i % c.fullEvery === 0) expect([...r.entries()].map(view)).toEqual(m.entries().map(view));
  }
  expect([...r.entries()].map(view)).toEqual(m.entries().map(view));
}

describe("differential against the Map-based model", () => {
  const few: Addr[] = [];
  for (const ip of ["198.51.100.1", "198.51.100.2", "203.0.113.5", "2001:db8::1", "2001:db8::2", "2001:db8:1::1"]) for (const port of [1000, 2000, 3000]) few.push(A(ip, port));
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`small registry, tight caps, seed ${seed}`, () => differential({ seed, ops: 4000, max: 8, perIp: 2, names: 14, addrs: few, fullEvery: 1 }));
  }
  test("no caps, seed 6", () => differential({ seed: 6, ops: 4000, max: Number.POSITIVE_INFINITY, perIp: Number.POSITIVE_INFINITY, names: 30, addrs: few, fullEvery: 1 }));
  const many = Array.from({ length: 3000 }, (_, i) => A(`10.1.${i >> 6}.${i & 63}`, 1000 + (i % 3)));
  test("growing past the initial capacity, seed 7", () => differential({ seed: 7, ops: 30000, max: 2500, perIp: 40, names: 3000, addrs: many, fullEvery: 2000 }));
});
