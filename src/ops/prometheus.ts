// GET /metrics: a ServerSnapshot in the Prometheus text exposition format
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   # HELP <name> <text, with \ and newline escaped>
//   # TYPE <name> counter|gauge
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
//
// Every family is prefixed hp_ (the process_ ones follow the standard
// names), counters end in _total, units are in the name (_bytes, _seconds).
// renderMetrics is pure; processFacts() is the one impure reader.
import { readdirSync } from "node:fs";
import type { ServerSnapshot } from "./snapshot.ts";

/** What the process itself reports (the standard process_* metrics). */
export interface ProcessFacts {
  /** User + system CPU time used, in seconds. */
  cpuSeconds: number;
  residentBytes: number;
  /** JavaScript heap in use. */
  heapBytes: number;
  /** Process start, seconds since the epoch. */
  startTimeSeconds: number;
  /** Open file descriptors; undefined where /proc/self/fd cannot be read (not Linux). */
  openFds: number | undefined;
}

/** Reads the process' own facts (CPU, memory, start time, open descriptors). */
export function processFacts(): ProcessFacts {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  let openFds: number | undefined;
  try {
    openFds = readdirSync("/proc/self/fd").length;
  } catch {
    openFds = undefined;
  }
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: mem.rss,
    heapBytes: mem.heapUsed,
    startTimeSeconds: performance.timeOrigin / 1000,
    openFds,
  };
}

/**
 * Stats counters that are requests, as [type, result] of hp_requests_total.
 * A name here, in OWN_FAMILY, or under a prefix of PREFIXED has its series;
 * any other counter still goes out, as hp_events_total{name="..."}.
 */
export const REQUEST_COUNTERS: Readonly<Record<string, readonly [type: string, result: string]>> = {
  register_hello: ["register", "hello"],
  register_ok: ["register", "ok"],
  register_ok_0rtt: ["register", "ok_0rtt"],
  register_name_taken: ["register", "name_taken"],
  register_registry_full: ["register", "registry_full"],
  register_too_many_from_ip: ["register", "too_many_from_ip"],
  register_bad_cookie: ["register", "bad_cookie"],
  register_bad_signature: ["register", "bad_signature"],
  register_not_allowed: ["register", "not_allowed"],
  register_invalid: ["register", "invalid"],
  register_0rtt_bad_token: ["register", "0rtt_bad_token"],
  register_0rtt_clock_skew: ["register", "0rtt_clock_skew"],
  // Register.additional rides on a Register: its own type, so sums over type="register" count requests once.
  register_additional_ok: ["register_additional", "ok"],
  register_additional_unknown: ["register_additional", "unknown"],
  register_additional_same_family: ["register_additional", "same_family"],
  keepalive_ok: ["keepalive", "ok"],
  keepalive_unknown: ["keepalive", "unknown"],
  punch_initiated: ["hole_punch", "initiated"],
  punch_unknown: ["hole_punch", "unknown"],
  punch_invalid: ["hole_punch", "invalid"],
  punch_not_registered: ["hole_punch", "not_registered"],
  unregistered: ["unregister", "ok"],
  unregister_repeat: ["unregister", "repeat"],
  nat_probe: ["nat_probe", "ok"],
  nat_probe_alt: ["nat_probe_alt", "ok"],
};

/** Counter-name prefixes that are requests of one type, the rest of the name being the result. */
const PREFIXED: readonly (readonly [prefix: string, type: string])[] = [
  ["stun_", "stun"],
  ["punch_report_", "punch_report"],
];

/** Counters exported as families of their own (below), so not as hp_events_total. */
const OWN_FAMILY = new Set(["received", "sent", "sent_bytes", "relay_bytes", "expired", "error_sent", "dropped"]);

/** A Stats counter name as hp_requests_total labels, or undefined when it is not a known request. */
export function requestLabels(name: string): { type: string; result: string } | undefined {
  const row = REQUEST_COUNTERS[name];
  if (row) return { type: row[0], result: row[1] };
  for (const [prefix, type] of PREFIXED) if (name.startsWith(prefix)) return { type, result: name.slice(prefix.length) };
  return undefined;
}

type Labels = Record<string, string>;
interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: { labels?: Labels; value: number }[];
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

const escapeHelp = (v: string) => v.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));

/** A sample value as the format spells it (NaN, +Inf, -Inf, or a Go-parsable float). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function renderFamily(f: Family): string {
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  for (const s of f.samples) {
    const labels = Object.entries(s.labels ?? {});
    const set = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}` : "";
    out += `${f.name}${set} ${formatValue(s.value)}\n`;
  }
  return out;
}

/** Numeric entries of a record, sorted by key (stable output, whatever order the maps were filled in). */
const entries = (r: Record<string, unknown>): [string, number][] =>
  Object.entries(r)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const counter = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "counter", samples });
const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "gauge", samples });
const one = (value: number, labels?: Labels) => [{ labels, value }];

/** The whole /metrics body. */
export function renderMetrics(s: ServerSnapshot, proc: ProcessFacts): string {
  const c = (name: string) => s.counters[name] ?? 0;
  const requests: Family["samples"] = [];
  const events: Family["samples"] = [];
  for (const [name, value] of entries(s.counters)) {
    const labels = requestLabels(name);
    if (labels) requests.push({ labels, value });
    else if (!OWN_FAMILY.has(name)) events.push({ labels: { name }, value });
  }
  const dropped = entries(s.dropped);
  const families: Family[] = [
    gauge("hp_info", "Build and instance of this hp-server (always 1).", one(1, { version: s.version, instance: s.cluster.instance, mode: s.cluster.mode })),
    gauge("hp_registrations", "Live registrations held by this instance.", one(s.registrations)),
    gauge("hp_relay_sessions", "Relay sessions open at this instance.", one(s.relaySessions)),
    counter("hp_requests_total", "Requests handled, by type and result.", requests),
    counter("hp_events_total", "Server counters without a family of their own, by counter name.", events),
    counter("hp_punches_started_total", "Hole punches started (introductions with a fresh token).", one(s.punches.started)),
    counter("hp_punches_succeeded_total", "Hole punches reported successful, by path.", [
      { labels: { path: "direct" }, value: s.punches.direct },
      { labels: { path: "relay" }, value: s.punches.relay },
    ]),
    counter("hp_punches_failed_total", "Hole punches reported failed.", one(s.punches.failed)),
    counter("hp_relay_bytes_total", "Payload bytes forwarded by the relay.", one(c("relay_bytes"))),
    counter("hp_dropped_packets_total", "Datagrams dropped unanswered, by reason.", dropped.map(([reason, value]) => ({ labels: { reason }, value }))),
    counter("hp_rate_limited_total", "Requests refused by the rate limits, per source IP or per name.", [
      { labels: { scope: "ip" }, value: s.dropped.rate_limited ?? 0 },
      { labels: { scope: "name" }, value: s.dropped.rate_limited_name ?? 0 },
    ]),
    counter("hp_received_packets_total", "Datagrams received.", one(c("received"))),
    counter("hp_sent_packets_total", "Datagrams sent.", one(c("sent"))),
    counter("hp_sent_bytes_total", "Bytes of UDP payload sent.", one(c("sent_bytes"))),
    counter("hp_error_replies_total", "Error replies sent.", one(c("error_sent"))),
    counter("hp_registrations_expired_total", "Registrations expired without a refresh.", one(c("expired"))),
    gauge("hp_cluster_redis_up", "Redis reachable right now (1 in memory mode, which has no Redis).", one(s.cluster.redisUp ? 1 : 0)),
    counter("hp_cluster_messages_total", "Messages published to / received from other instances, by kind.", [
      ...entries(s.cluster.sent).map(([kind, value]) => ({ labels: { direction: "sent", kind }, value })),
      ...entries(s.cluster.received).map(([kind, value]) => ({ labels: { direction: "received", kind }, value })),
    ]),
    counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", one(proc.cpuSeconds)),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", one(proc.residentBytes)),
    gauge("process_heap_bytes", "JavaScript heap in use in bytes.", one(proc.heapBytes)),
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", one(proc.startTimeSeconds)),
  ];
  if (proc.openFds !== undefined) families.push(gauge("process_open_fds", "Number of open file descriptors.", one(proc.openFds)));
  return families.map(renderFamily).join("");
}
