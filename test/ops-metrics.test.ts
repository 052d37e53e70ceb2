// The operations endpoint: the Prometheus renderer (checked by a parser of
// the 0.0.4 text format written here, and by known lines), the history ring,
// and the real HTTP server on 127.0.0.1 port 0.
import { afterEach, describe, expect, test } from "bun:test";
import { History } from "../src/ops/history.ts";
import { startOpsServer, type OpsServer } from "../src/ops/http.ts";
import { REQUEST_COUNTERS, renderMetrics, type ProcessFacts } from "../src/ops/prometheus.ts";
import type { ServerSnapshot } from "../src/ops/snapshot.ts";
import { buildStatus } from "../src/ops/status-page.ts";

const T0 = 1_700_000_000_000;
const PROC: ProcessFacts = { cpuSeconds: 1.5, residentBytes: 50_000_000, heapBytes: 9_000_000, startTimeSeconds: 1_699_999_000, openFds: 12 };

function snap(over: Partial<ServerSnapshot> = {}): ServerSnapshot {
  return {
    version: "0.1.0",
    nowMs: T0,
    startedAtMs: T0 - 60_000,
    registrations: 7,
    relaySessions: 2,
    counters: {},
    dropped: {},
    punches: { started: 12, direct: 9, relay: 2, failed: 1 },
    cluster: { mode: "memory", instance: "eu-1", redisUp: true, sent: {}, received: {} },
    ...over,
  };
}

// ---- a parser of the text exposition format 0.0.4, strict about what we promise ----

interface Parsed {
  types: Map<string, string>;
  /** series key (name + sorted labels) -> value */
  series: Map<string, number>;
}
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;

function parseLabels(s: string, line: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('="', i);
    if (eq < 0) throw new Error(`bad labels: ${line}`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`bad label name ${name}: ${line}`);
    let v = "";
    for (i = eq + 2; s[i] !== '"'; i++) {
      if (i >= s.length) throw new Error(`unterminated label value: ${line}`);
      if (s[i] !== "\\") v += s[i];
      else if (s[++i] === "n") v += "\n";
      else if (s[i] === "\\" || s[i] === '"') v += s[i];
      else throw new Error(`bad escape \\${s[i]}: ${line}`);
    }
    out.push([name, v]);
    i++;
    if (i < s.length && s[i++] !== ",") throw new Error(`expected , in labels: ${line}`);
  }
  return out;
}

function parseExposition(text: string): Parsed {
  expect(text.endsWith("\n")).toBe(true);
  const help = new Set<string>();
  const types = new Map<string, string>();
  const series = new Map<string, number>();
  const closed = new Set<string>();
  let current = "";
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`);
      if (kind === "HELP") {
        if (help.has(name)) throw new Error(`second HELP: ${line}`);
        help.add(name);
      } else {
        if (types.has(name) || !["counter", "gauge"].includes(rest)) throw new Error(`bad or second TYPE: ${line}`);
        types.set(name, rest);
      }
      if (current !== name) closed.add(current), (current = name);
      continue;
    }
    if (line.startsWith("#") || line === "") throw new Error(`unexpected line: ${JSON.stringify(line)}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, name, labels, value] = m as unknown as [string, string, string | undefined, string];
    if (!help.has(name) || !types.has(name)) throw new Error(`sample before its HELP and TYPE: ${line}`);
    if (name !== current || closed.has(name)) throw new Error(`samples of ${name} not together: ${line}`);
    if (!VALUE.test(value)) throw new Error(`value not a number: ${line}`);
    const key = name + JSON.stringify(parseLabels(labels ?? "", line).sort());
    if (series.has(key)) throw new Error(`duplicate series: ${line}`);
    series.set(key, Number(value.replace("Inf", "Infinity")));
  }
  for (const [name, type] of types) if ((type === "counter") !== name.endsWith("_total")) throw new Error(`${name}: counters, and only they, end in _total`);
  return { types, series };
}
const seriesKey = (name: string, labels: Record<string, string> = {}) => name + JSON.stringify(Object.entries(labels).sort());

describe("renderMetrics", () => {
  const busy = snap({
    counters: { ...Object.fromEntries(Object.keys(REQUEST_COUNTERS).map((k, i) => [k, i + 1])), stun_binding: 40, stun_other: 2, punch_report_direct: 5, received: 100, sent: 90, sent_bytes: 9000, relay_bytes: 4096, dropped: 6, expired: 3, error_sent: 4, brand_new_counter: 8 },
    dropped: { malformed: 2, rate_limited: 3, rate_limited_name: 1, 'we"ird\\re\nason': 1 },
    cluster: { mode: "redis", instance: 'in"st\\1\n', redisUp: false, sent: { introduce: 4, relay: 1 }, received: { introduce: 2 } },
  });
  const text = renderMetrics(busy, PROC);
  const parsed = parseExposition(text);

  test("parses: HELP and TYPE before samples, no duplicate series, numeric values, _total on counters only", () => {
    expect(parsed.series.size).toBeGreaterThan(50);
    const head = "# HELP a_total x\n# TYPE a_total counter\n";
    for (const bad of ["a_total 1\n", `${head}a_total 1\na_total 1\n`, `${head}a_total one\n`, `${head}a_total{l="\\q"} 1\n`, "# HELP a x\n# TYPE a counter\na 1\n"])
      expect(() => parseExposition(bad)).toThrow(); // the parser itself rejects what it should
    expect(parseExposition(renderMetrics(snap(), { ...PROC, openFds: undefined })).types.has("process_open_fds")).toBe(false);
  });

  // [series name, labels, value] rows that must be in the output.
  const known: [string, Record<string, string>, number][] = [
    ["hp_registrations", {}, 7],
    ["hp_relay_sessions", {}, 2],
    ["hp_requests_total", { type: "register", result: "hello" }, 1],
    ["hp_requests_total", { type: "register", result: "ok" }, 2],
    ["hp_requests_total", { type: "register", result: "ok_0rtt" }, 3],
    ["hp_requests_total", { type: "register_additional", result: "same_family" }, 15],
    ["hp_requests_total", { type: "keepalive", result: "unknown" }, 17],
    ["hp_requests_total", { type: "hole_punch", result: "initiated" }, 18],
    ["hp_requests_total", { type: "unregister", result: "repeat" }, 23],
    ["hp_requests_total", { type: "nat_probe_alt", result: "ok" }, 25],
    ["hp_requests_total", { type: "stun", result: "binding" }, 40],
    ["hp_requests_total", { type: "stun", result: "other" }, 2],
    ["hp_requests_total", { type: "punch_report", result: "direct" }, 5],
    ["hp_events_total", { name: "brand_new_counter" }, 8],
    ["hp_punches_started_total", {}, 12],
    ["hp_punches_succeeded_total", { path: "direct" }, 9],
    ["hp_punches_succeeded_total", { path: "relay" }, 2],
    ["hp_punches_failed_total", {}, 1],
    ["hp_relay_bytes_total", {}, 4096],
    ["hp_dropped_packets_total", { reason: "malformed" }, 2],
    ["hp_dropped_packets_total", { reason: 'we"ird\\re\nason' }, 1],
    ["hp_rate_limited_total", { scope: "ip" }, 3],
    ["hp_rate_limited_total", { scope: "name" }, 1],
    ["hp_received_packets_total", {}, 100],
    ["hp_sent_packets_total", {}, 90],
    ["hp_sent_bytes_total", {}, 9000],
    ["hp_error_replies_total", {}, 4],
    ["hp_registrations_expired_total", {}, 3],
    ["hp_cluster_redis_up", {}, 0],
    ["hp_cluster_messages_total", { direction: "sent", kind: "introduce" }, 4],
    ["hp_cluster_messages_total", { direction: "received", kind: "introduce" }, 2],
    ["hp_info", { version: "0.1.0", instance: 'in"st\\1\n', mode: "redis" }, 1],
    ["process_cpu_seconds_total", {}, 1.5],
    ["process_resident_memory_bytes", {}, 50_000_000],
    ["process_heap_bytes", {}, 9_000_000],
    ["process_start_time_seconds", {}, 1_699_999_000],
    ["process_open_fds", {}, 12],
  ];
  test.each(known)("%s %o = %d", (name, labels, value) => {
    expect(parsed.series.get(seriesKey(name, labels))).toBe(value);
  });

  test("label values are escaped on the wire (backslash, quote, newline)", () => {
    expect(text).toContain('hp_dropped_packets_total{reason="we\\"ird\\\\re\\nason"} 1\n');
    expect(text).toContain('hp_info{version="0.1.0",instance="in\\"st\\\\1\\n",mode="redis"} 1\n');
  });

  test("no counter is lost: every one is in some series, and only once", () => {
    const ownFamily = ["received", "sent", "sent_bytes", "relay_bytes", "dropped", "expired", "error_sent"];
    const requests = [...parsed.series.keys()].filter((k) => k.startsWith("hp_requests_total") || k.startsWith("hp_events_total"));
    expect(requests.length).toBe(Object.keys(busy.counters).length - ownFamily.length);
  });
});

describe("History", () => {
  const at = (i: number, p: Partial<ServerSnapshot["punches"]>, extra: Partial<ServerSnapshot> = {}) =>
    snap({ nowMs: T0 + i * 10_000, punches: { started: 0, direct: 0, relay: 0, failed: 0, ...p }, ...extra });

  test("first sample is the baseline; then one point per interval with deltas and end-of-interval gauges", () => {
    const h = new History();
    expect(h.sample(at(0, { started: 10, direct: 5 }))).toBeUndefined();
    h.sample(at(1, { started: 14, direct: 8, failed: 1 }, { registrations: 9, counters: { relay_bytes: 500 } }));
    h.sample(at(2, { started: 14, direct: 8, failed: 1 }, { registrations: 4, counters: { relay_bytes: 800 } }));
    expect(h.points()).toEqual([
      { endMs: T0 + 10_000, spanMs: 10_000, started: 4, direct: 3, relay: 0, failed: 1, relayBytes: 500, registrations: 9, relaySessions: 2 },
      { endMs: T0 + 20_000, spanMs: 10_000, started: 0, direct: 0, relay: 0, failed: 0, relayBytes: 300, registrations: 4, relaySessions: 2 },
    ]);
  });

  test("a second call within half an interval is ignored (timer jitter cannot double points)", () => {
    const h = new History();
    h.sample(at(0, {}));
    expect(h.sample(snap({ nowMs: T0 + 4_000 }))).toBeUndefined();
    expect(h.sample(at(1, { started: 2 }))?.started).toBe(2);
  });

  test("counter resets: a restart (new startedAtMs) or a counter that went down counts the whole new value", () => {
    const h = new History();
    h.sample(at(0, { started: 50, direct: 40 }, { counters: { relay_bytes: 9000 } }));
    const restarted = h.sample(at(1, { started: 60, direct: 45 }, { startedAtMs: T0 + 5_000, counters: { relay_bytes: 100 } }))!;
    expect([restarted.started, restarted.direct, restarted.relayBytes]).toEqual([60, 45, 100]);
    const wentDown = h.sample(at(2, { started: 3, direct: 50 }, { startedAtMs: T0 + 5_000, counters: { relay_bytes: 150 } }))!;
    expect([wentDown.started, wentDown.direct, wentDown.relayBytes]).toEqual([3, 5, 50]);
  });

  test("keeps one hour: 360 points at most, oldest dropped; a long gap forgets what is older than an hour", () => {
    const h = new History();
    for (let i = 0; i <= 400; i++) h.sample(at(i, { started: i }));
    expect(h.capacity).toBe(360);
    expect(h.points().length).toBe(360);
    expect(h.points()[0]!.endMs).toBe(T0 + 41 * 10_000);
    h.sample(at(400 + 300, { started: 401 })); // 50 minutes later: one long point
    expect(h.points().map((p) => p.spanMs).at(-1)).toBe(3_000_000);
    expect(h.points()[0]!.endMs).toBeGreaterThan(T0 + 700 * 10_000 - 3_600_000);
  });

  test("the wall clock going back starts a new baseline", () => {
    const h = new History();
    h.sample(at(10, {}));
    expect(h.sample(at(0, { started: 5 }))).toBeUndefined();
    expect(h.sample(at(1, { started: 7 }))?.started).toBe(2);
  });
});

describe("ops HTTP server", () => {
  let server: OpsServer | undefined;
  afterEach(() => {
    server?.stop();
    server = undefined;
  });
  const start = async (s: () => ServerSnapshot, history?: History) =>
    (server = await startOpsServer({ host: "127.0.0.1", port: 0, snapshot: s, history, processFacts: () => PROC }));

  test("GET /metrics: the 0.0.4 content type, a body that parses", async () => {
    const srv = await start(() => snap({ counters: { register_ok: 3 } }));
    const res = await fetch(srv.url + "metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(parseExposition(await res.text()).series.get(seriesKey("hp_requests_total", { type: "register", result: "ok" }))).toBe(3);
  });

  test("GET /healthz: ok, degraded while Redis is down (still 200), 503 once draining, nothing after stop", async () => {
    let current = snap();
    const srv = await start(() => current);
    const health = async () => {
      const r = await fetch(srv.url + "healthz");
      return [r.status, ((await r.json()) as { status: string }).status];
    };
    expect(await health()).toEqual([200, "ok"]);
    current = snap({ cluster: { ...current.cluster, mode: "redis", redisUp: false } });
    expect(await health()).toEqual([200, "degraded"]);
    current = snap({ cluster: { ...current.cluster, mode: "redis", redisUp: true } });
    expect(await health()).toEqual([200, "ok"]);
    srv.drain();
    expect(await health()).toEqual([503, "draining"]);
    srv.stop();
    await expect(fetch(srv.url + "healthz")).rejects.toThrow();
  });

  test("unknown path 404, other methods 405 (with Allow), HEAD like GET without a body", async () => {
    const srv = await start(() => snap());
    expect((await fetch(srv.url + "nope")).status).toBe(404);
    expect((await fetch(srv.url + "metrics/")).status).toBe(404);
    const post = await fetch(srv.url + "healthz", { method: "POST", body: "x" });
    expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    const head = await fetch(srv.url + "metrics", { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);
  });

  test("GET /status.json is buildStatus of the snapshot; the history is sampled at start and every interval until stop", async () => {
    const history = new History({ intervalMs: 40, keepMs: 4_000 });
    const srv = await start(() => snap({ nowMs: Date.now() }), history);
    const body = (await (await fetch(srv.url + "status.json")).json()) as ReturnType<typeof buildStatus>;
    expect(body).toMatchObject({ instance: "eu-1", clientsOnline: 7, punches: { started: 12, successRate: 11 / 12 }, history: { intervalMs: 40 } });
    const deadline = Date.now() + 3_000;
    while (history.points().length < 2 && Date.now() < deadline) await Bun.sleep(10);
    expect(history.points().length).toBeGreaterThanOrEqual(2);
    srv.stop();
    const n = history.points().length;
    await Bun.sleep(150);
    expect(history.points().length).toBe(n);
  });

  test("a snapshot that throws is a 500 and a log line, not a crash", async () => {
    const errors: string[] = [];
    let fail = false;
    const log = { debug() {}, info() {}, warn() {}, error: (m: string) => void errors.push(m) };
    server = await startOpsServer({ host: "127.0.0.1", port: 0, log, snapshot: () => (fail ? (() => { throw new Error("boom"); })() : snap()) });
    fail = true;
    expect((await fetch(server.url + "metrics")).status).toBe(500);
    expect(errors).toEqual(["ops: request failed"]);
    fail = false;
    expect((await fetch(server.url + "healthz")).status).toBe(200);
  });
});
