// hp-server's settings. One table (OPTIONS) drives the command-line flags,
// the environment (HP_ + the flag in upper snake case: --relay-rate ->
// HP_RELAY_RATE, --no-relay -> HP_RELAY=false) and the TOML config file
// (--config / HP_CONFIG; keys are the flag names: relay-rate = 65536).
// Precedence: command-line flag > environment variable > config file > built-in default.
// Pure apart from reading the config file it is given.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import { DEFAULT_MAX_CLIENTS, DEFAULT_PORT, MAX_NAMES_PER_IP, RATE_BURST_PER_IP, RATE_PER_IP_PER_SECOND, RELAY_BYTES_PER_SECOND, RELAY_QUOTA_BYTES } from "../constants.ts";
import { HpError } from "../errors.ts";

export type Value = string | number | boolean;
type Kind =
  | { type: "int"; min: number; max: number; off?: true } // off: the word "off" is a value too
  | { type: "string"; min: number; max: number; pattern?: RegExp; what?: string }
  | { type: "bool" }
  | { type: "enum"; values: readonly string[] }
  | { type: "host-port" } // "127.0.0.1:9100", "[::1]:9100"
  | { type: "path" }
  | { type: "redis-url" };
type Get = (name: string) => Value | undefined;

export interface OptionSpec {
  name: string; // the flag without "--" and the config-file key; HP_<UPPER_SNAKE> in the environment
  kind: Kind;
  help: string;
  default?: Value | ((get: Get, hostname: string) => Value | undefined); // a value, one computed from options above it, or none
  defaultText?: string; // how --help and --print-config describe a computed default, or none
  secret?: true; // printed as "(set)", which is refused on load
  only?: "env" | "flag"; // not a config-file key: "env" also takes HP_*, "flag" only the command line
  flag?: string; // cac spelling, when not "--name <value>"
}

const int = (min: number, max: number): Kind => ({ type: "int", min, max });
const text = (min: number, max: number): Kind => ({ type: "string", min, max });
const BOOL: Kind = { type: "bool" };
const PATH: Kind = { type: "path" };
const INSTANCE = /^[A-Za-z0-9._:-]{1,64}$/;
/** What --print-config prints for a secret: not loadable as one. */
export const REDACTED = "(set)";

export const OPTIONS: readonly OptionSpec[] = [
  { name: "config", kind: PATH, only: "env", flag: "--config <file>", help: "Read settings from this TOML file (keys are the flag names)" },
  { name: "host", kind: text(1, 255), flag: "--host <host>", help: "Address to bind", defaultText: 'all interfaces ("::", or "0.0.0.0" without IPv6)' },
  { name: "port", kind: int(0, 65535), default: DEFAULT_PORT, help: "UDP port (0: pick a free one)" },
  { name: "alt-port", kind: { type: "int", min: 0, max: 65535, off: true }, default: (get) => (get("port") === 0 ? 0 : Number(get("port")) + 1), defaultText: "port + 1", help: "Second UDP port for NAT discovery and STUN; off to disable" },
  { name: "alt-host", kind: text(1, 255), flag: "--alt-host <host>", default: (get) => get("host"), defaultText: "host", help: "Address for the second port" },
  { name: "relay", kind: BOOL, default: true, flag: "--no-relay", help: "Relay for peers that cannot punch; --no-relay (relay = false): never" },
  { name: "relay-rate", kind: int(1, 1e12), default: RELAY_BYTES_PER_SECOND, flag: "--relay-rate <bytes>", help: "Relay: bytes per second per peer" },
  { name: "relay-quota", kind: int(1, 1e15), default: RELAY_QUOTA_BYTES, flag: "--relay-quota <bytes>", help: "Relay: bytes per session" },
  { name: "max-clients", kind: int(1, 100_000_000), default: DEFAULT_MAX_CLIENTS, help: "Registry size cap" },
  { name: "max-per-ip", kind: int(1, 100_000_000), default: MAX_NAMES_PER_IP, help: "Names one source IP may hold" },
  { name: "rate", kind: int(0, 100_000_000), default: RATE_PER_IP_PER_SECOND, help: "Requests per second allowed per source IP, 0 for no limits at all (also none per name)" },
  { name: "burst", kind: int(1, 1_000_000_000), default: (get) => Math.max(RATE_BURST_PER_IP, Number(get("rate")) * 2), defaultText: `the larger of ${RATE_BURST_PER_IP} and 2 × rate`, help: "Burst allowed per source IP" },
  { name: "allow", kind: PATH, help: "Only these names and keys may register (lines: <name> <public key>)", defaultText: "everyone" },
  { name: "token", kind: { type: "string", min: 1, max: 256, what: "1 to 256 characters" }, secret: true, flag: "--token <token>", help: "Clients must present this registration token (hp-client --token)" },
  { name: "redis", kind: { type: "redis-url" }, secret: true, flag: "--redis <url>", help: "Share registrations with other instances through this Redis (redis:// or rediss:// URL)" },
  { name: "instance", kind: { type: "string", min: 1, max: 64, pattern: INSTANCE, what: "1 to 64 characters of A-Z a-z 0-9 . _ : -" }, default: (get, host) => instanceId(host, Number(get("port"))), defaultText: "<hostname>:<port>", flag: "--instance <id>", help: "This instance's id in a cluster" },
  { name: "metrics", kind: { type: "host-port" }, help: "Serve Prometheus /metrics, /healthz and a status page (/) over HTTP on this address ([::1]:9100 for IPv6)" },
  { name: "log-format", kind: { type: "enum", values: ["text", "json"] }, default: "text", flag: "--log-format <format>", help: "Log format on stderr: text, or json (one object per line)" },
  { name: "verbose", kind: BOOL, default: false, help: "Log every request" },
  { name: "print-config", kind: BOOL, only: "flag", help: "Print the effective settings as TOML, each with where it came from, and exit" },
];
const byName = new Map(OPTIONS.map((o) => [o.name, o]));

export type Source = { kind: "default" } | { kind: "flag" } | { kind: "env"; name: string } | { kind: "file"; path: string };
export type Setting = { value: Value | undefined; source: Source };
export interface ConfigInput {
  /** Options as cac parsed them (camelCase keys). */
  flags: Record<string, unknown>;
  /** The raw arguments: mri turns "007" into 7 and always sets negated flags; these tell what was typed. */
  argv: string[];
  env: Record<string, string | undefined>;
  /** For the default instance id. */
  hostname: string;
}
export interface Config {
  settings: Map<string, Setting>;
  warnings: string[]; // unknown HP_* variables, to log
  file?: string;
}

export const envName = (name: string) => `HP_${name.toUpperCase().replace(/-/g, "_")}`;
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
function fail(msg: string): never {
  throw new HpError("BAD_ARGUMENT", msg);
}

/** The default instance id: "<hostname>:<port>", the hostname trimmed to the allowed characters and length. */
export function instanceId(hostname: string, port: number): string {
  const tail = `:${port}`;
  return (hostname.replace(/[^A-Za-z0-9._-]/g, "-") || "hp-server").slice(0, 64 - tail.length) + tail;
}

/** "host:port" or "[v6]:port" -> parts; undefined when malformed. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:[\]/]+):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  if (!m || port > 65535 || (s.startsWith("[") && isIP(m[1]!) !== 6)) return undefined;
  return { host: m[1]!, port };
}

/** The URL with its password replaced by "(set)". */
export function redactRedis(url: string): string {
  const u = URL.parse(url);
  if (!u?.password) return url;
  u.password = REDACTED;
  return u.href;
}

/** Parses one value; `typed` values come from TOML (typed), the others from flags and the environment (text). */
function parse(o: OptionSpec, raw: unknown, typed: boolean): Value | { expect: string } {
  const k = o.kind;
  const str = typeof raw === "string" ? raw : undefined;
  switch (k.type) {
    case "int": {
      if (k.off && raw === "off") return "off";
      const n = typeof raw === "number" ? raw : !typed && str?.trim() ? Number(str) : NaN;
      const ok = Number.isInteger(n) && n >= k.min && n <= k.max;
      return ok ? n : { expect: `an integer from ${k.min} to ${k.max}${k.off ? ' or "off"' : ""}` };
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      const word = typed ? undefined : str?.toLowerCase();
      if (word === "true" || word === "1" || word === "yes" || word === "on") return true;
      if (word === "false" || word === "0" || word === "no" || word === "off") return false;
      return { expect: "true or false" };
    }
    case "enum":
      return str !== undefined && k.values.includes(str) ? str : { expect: k.values.join(" or ") };
    case "string": {
      const ok = str !== undefined && str.length >= k.min && str.length <= k.max && (!k.pattern || k.pattern.test(str));
      return ok ? str : { expect: k.what ?? `a string of ${k.min} to ${k.max} characters` };
    }
    case "path":
      return str ? str : { expect: "a file path" };
    case "host-port":
      return str !== undefined && parseHostPort(str) ? str : { expect: "host:port with a port from 0 to 65535 (an IPv6 address in brackets: [::1]:9100)" };
    case "redis-url": {
      const u = str === undefined ? null : URL.parse(str);
      const ok = u && (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "";
      return ok ? str! : { expect: "a redis:// or rediss:// URL with a host" };
    }
  }
}

function show(raw: unknown): string {
  if (typeof raw === "string") return JSON.stringify(raw);
  if (Array.isArray(raw)) return "an array";
  if (raw !== null && typeof raw === "object") return raw instanceof Date ? "a date" : "a table";
  return String(raw);
}

const where = (o: OptionSpec, source: Source) =>
  source.kind === "flag" ? `--${o.name}` : source.kind === "env" ? `environment variable ${source.name}` : `config file ${source.kind === "file" ? source.path : ""}: ${o.name}`;

/** Checks one raw value from one source; throws one line naming the source. */
function check(o: OptionSpec, raw: unknown, source: Source): Value {
  if (Array.isArray(raw) && source.kind === "flag") fail(`--${o.name} given more than once`);
  if (raw === true && source.kind === "flag" && o.kind.type !== "bool") fail(`--${o.name} needs a value`);
  const v = parse(o, raw, source.kind === "file");
  if (typeof v === "object") fail(`${where(o, source)} must be ${v.expect}${o.secret ? "" : `, not ${show(raw)}`}`);
  if (o.kind.type === "path" && source.kind === "file" && !isAbsolute(String(v))) return resolve(dirname(source.path), String(v));
  return v;
}

/** The text typed after the last --name (or --camelName), "" for a bare flag; undefined when absent. */
function typed(argv: string[], names: string[]): { name: string; text: string } | undefined {
  let hit: { name: string; text: string } | undefined;
  for (let i = 0; i < argv.length && argv[i] !== "--"; i++) {
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(argv[i]!);
    const name = m?.[1]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (m && names.includes(name!)) hit = { name: name!, text: m[2] ?? (argv[i + 1]?.startsWith("-") ? "" : (argv[i + 1] ?? "")) };
  }
  return hit;
}

/** The flag's raw value, or undefined when not on the command line. */
function flagValue(o: OptionSpec, input: ConfigInput): unknown {
  if (o.flag?.startsWith("--no-")) {
    // cac gives negated flags a default of true: only the arguments tell whether one was typed.
    return typed(input.argv, [o.name, `no-${o.name}`]) ? input.flags[camel(o.name)] : undefined;
  }
  const v = input.flags[camel(o.name)];
  // mri reads "007" as 7: take the characters typed for anything but integers.
  if (typeof v === "number" && o.kind.type !== "int") return typed(input.argv, [o.name])?.text ?? String(v);
  return v;
}

/** Where the config file is (--config, else HP_CONFIG), or undefined. */
export function configFile(input: ConfigInput): { path: string; source: string } | undefined {
  const o = byName.get("config")!;
  const flag = flagValue(o, input);
  if (flag !== undefined) return { path: String(check(o, flag, { kind: "flag" })), source: "--config" };
  const env = input.env.HP_CONFIG;
  if (env) return { path: String(check(o, env, { kind: "env", name: "HP_CONFIG" })), source: "HP_CONFIG" };
  return undefined;
}

/** Parses a config file's text: a TOML table whose keys are option names. */
export function parseConfigText(body: string, path: string): Record<string, unknown> {
  let data: Record<string, unknown> = {};
  try {
    data = Bun.TOML.parse(body) as Record<string, unknown>;
  } catch (e) {
    fail(`config file ${path}: not valid TOML: ${(e as Error).message.replace(/^TOML Parse error: /, "")}`);
  }
  for (const key of Object.keys(data)) {
    const o = byName.get(key);
    const hint = byName.has(key.replace(/_/g, "-")) ? ` (did you mean ${key.replace(/_/g, "-")}?)` : " (see hp-server --help)";
    if (!o) fail(`config file ${path}: unknown key ${JSON.stringify(key)}${hint}`);
    if (o.only) fail(`config file ${path}: ${key} is not a config-file setting (only --${key}${o.only === "env" ? ` or ${envName(key)}` : ""})`);
  }
  return data;
}

/** Resolves every option: flag > environment > file > default. Throws one BAD_ARGUMENT line on the first bad value. */
export function resolveConfig(input: ConfigInput, file?: { path: string; data: Record<string, unknown> }): Config {
  const settings = new Map<string, Setting>();
  const get: Get = (name) => settings.get(name)?.value;
  const known = new Set(OPTIONS.filter((o) => o.only !== "flag").map((o) => envName(o.name)));
  const warnings = Object.keys(input.env)
    .filter((k) => /^HP_[A-Z0-9_]+$/.test(k) && !known.has(k))
    .sort()
    .map((k) => `environment variable ${k} is not an hp-server setting (ignored)`);
  for (const o of OPTIONS) {
    const candidates: [unknown, Source][] = [[flagValue(o, input), { kind: "flag" }]];
    if (o.only !== "flag") candidates.push([input.env[envName(o.name)] || undefined, { kind: "env", name: envName(o.name) }]);
    if (!o.only && file) candidates.push([file.data[o.name], { kind: "file", path: file.path }]);
    // Every source is checked, also those a higher one overrides: a bad file is bad.
    let setting: Setting | undefined;
    for (const [raw, source] of candidates) {
      if (raw === undefined) continue;
      const value = check(o, raw, source);
      setting ??= { value, source };
    }
    // A redacted secret is refused where it would be used (a higher source may override it).
    const v = setting?.value;
    if (o.secret && typeof v === "string" && (v === REDACTED || URL.parse(v)?.password === REDACTED)) {
      fail(`${where(o, setting!.source)} is the "${REDACTED}" that --print-config prints for secrets: put the real value there, or set ${envName(o.name)}`);
    }
    const dflt = typeof o.default === "function" ? o.default(get, input.hostname) : o.default;
    settings.set(o.name, setting ?? { value: dflt, source: { kind: "default" } });
  }
  return { settings, warnings, file: file?.path };
}

/** Finds and reads the config file (the only I/O here), then resolves. */
export function loadConfig(input: ConfigInput): Config {
  const where = configFile(input);
  if (!where) return resolveConfig(input);
  let body = "";
  try {
    body = readFileSync(where.path, "utf8");
  } catch (e) {
    fail(`config file ${where.path} (${where.source}): cannot read it: ${(e as Error).message}`);
  }
  return resolveConfig(input, { path: where.path, data: parseConfigText(body, where.path) });
}

function toml(v: Value): string {
  if (typeof v !== "string") return String(v);
  return JSON.stringify(v).replace(/\u007f/g, "\\u007F");
}

/**
 * The settings as a TOML document that loads back to the same settings,
 * each line commented with its source. Secrets print as "(set)", which is
 * refused on load. Defaults computed from other settings, and unset
 * options, are commented out, so that they keep following what they
 * depend on.
 */
export function formatConfig(c: Config): string {
  const lines = [
    "# hp-server settings (hp-server --print-config): each value and where it came from.",
    "# Precedence: command-line flag > environment variable (HP_*) > config file > built-in default.",
    `# Secrets print as "${REDACTED}", which does not load: put the real value back, or set it in the environment.`,
    "# Commented-out lines are defaults computed from other settings, or not set.",
  ];
  if (c.file) lines.push(`# config: ${c.file}`);
  for (const o of OPTIONS) {
    if (o.only) continue;
    const { value, source } = c.settings.get(o.name)!;
    const from = source.kind === "env" ? `env ${source.name}` : source.kind;
    if (value === undefined) {
      lines.push(`# ${o.name} = (not set)  # default${o.defaultText ? `: ${o.defaultText}` : ""}`);
      continue;
    }
    const shown = o.secret && typeof value === "string" ? (o.name === "redis" ? redactRedis(value) : REDACTED) : value;
    const computed = source.kind === "default" && typeof o.default === "function";
    lines.push(`${computed ? "# " : ""}${o.name} = ${toml(shown)}  # ${from}${computed ? `: ${o.defaultText}` : ""}`);
  }
  return lines.join("\n") + "\n";
}
