#!/usr/bin/env bun
// hp-server: the rendezvous server. Reads its settings (flags, HP_* environment,
// TOML file: see server-config.ts) and runs the library.
import { cac } from "cac";
import { hostname } from "node:os";
import { ErrorCodes, isHpError, type ErrorCode } from "../errors.ts";
import { loadAllowList } from "../identity/allow-list.ts";
import { createLogger, type LogFormat } from "../log.ts";
import { formatAddr } from "../net/address.ts";
import { startServer } from "../server/udp-server.ts";
import { VERSION } from "../version.ts";
import { parseArgv } from "./common.ts";
import { envName, formatConfig, loadConfig, OPTIONS, REDACTED, redactRedis, parseHostPort, type Config, type OptionSpec } from "./server-config.ts";

const USAGE = `[options]

  Rendezvous server for UDP hole punching: clients register names here and get introduced.

  Every option is also an environment variable, HP_ and the flag in upper snake case
  (--relay-rate 65536: HP_RELAY_RATE=65536; --no-relay: HP_RELAY=false; empty counts as unset),
  and a key in the TOML file given by --config or HP_CONFIG (relay-rate = 65536, relay = false).
  Precedence: command-line flag > environment variable > config file > built-in default.
  --print-config shows the result; secrets print as "${REDACTED}", which does not load back.`;

const placeholder: Record<OptionSpec["kind"]["type"], string> = {
  int: "<n>",
  string: "<text>",
  bool: "",
  enum: "<value>",
  "host-port": "<host:port>",
  path: "<file>",
  "redis-url": "<url>",
};

/** One help line per option, with its default and environment variable. */
function describe(o: OptionSpec): string {
  const dflt = o.defaultText ?? (o.default === undefined || o.flag?.startsWith("--no-") ? undefined : String(o.default));
  const notes = [dflt === undefined ? "" : `default: ${dflt}`, o.only === "flag" ? "" : `env ${envName(o.name)}`].filter(Boolean);
  return `${o.help}${notes.length ? ` (${notes.join("; ")})` : ""}`;
}

const cli = cac("hp-server");
cli.usage(USAGE);
for (const o of OPTIONS) cli.option(o.flag ?? `--${o.name} ${placeholder[o.kind.type]}`.trim(), describe(o));

/** One line, "hp-server: CODE: message", and the code's exit status. */
function die(code: ErrorCode, message: string): never {
  process.stderr.write(`hp-server: ${code}: ${message}\n`);
  process.exit(ErrorCodes[code]);
}

async function run(flags: Record<string, unknown>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ flags, argv: process.argv.slice(2), env: process.env, hostname: hostname() });
  } catch (e) {
    if (isHpError(e)) die(e.code, e.message);
    throw e;
  }
  const get = <T>(name: string) => config.settings.get(name)?.value as T;
  const log = createLogger({ format: get<LogFormat>("log-format"), level: get("verbose") ? "debug" : "info", component: "server" });
  for (const w of config.warnings) log.warn(w);
  if (get("print-config")) {
    process.stdout.write(formatConfig(config));
    return;
  }
  let allow: Map<string, Uint8Array> | undefined;
  const allowFile = get<string | undefined>("allow");
  if (allowFile !== undefined) {
    try {
      allow = await loadAllowList(allowFile);
    } catch (e) {
      die("BAD_ARGUMENT", (e as Error).message);
    }
  }
  const host = get<string | undefined>("host");
  const port = get<number>("port");
  const rate = get<number>("rate");
  const unlimited = rate === 0 ? Number.POSITIVE_INFINITY : undefined;
  const token = get<string | undefined>("token");
  const redis = get<string | undefined>("redis");
  const metrics = get<string | undefined>("metrics");
  let server;
  try {
    server = await startServer({
      host,
      port,
      altPort: get("alt-port") === "off" ? false : get<number>("alt-port"),
      altHost: get<string | undefined>("alt-host"),
      relay: get("relay") ? { bytesPerSecond: get<number>("relay-rate"), quotaBytes: get<number>("relay-quota") } : false,
      maxClients: get<number>("max-clients"),
      maxPerIp: get<number>("max-per-ip"),
      allow,
      token,
      log,
      ratePerSecond: unlimited ?? rate,
      rateBurst: unlimited ?? get<number>("burst"),
      ratePerName: unlimited,
      redis,
      // With port 0 the default id waits for the bound port (startServer's own default).
      instanceId: port === 0 && config.settings.get("instance")?.source.kind === "default" ? undefined : get<string>("instance"),
      metrics: metrics === undefined ? undefined : parseHostPort(metrics),
    });
  } catch (e) {
    if (isHpError(e)) die(e.code, e.message);
    die("SOCKET_ERROR", `cannot listen on ${host ?? "::"} port ${port}: ${(e as Error).message}`);
  }
  // Handlers first: whoever waits for the listening line may signal at once.
  const stop = (signal: string) => {
    log.info("shutting down", { signal, registered: server.core.registry.size, ...flatStats(server.core.stats.snapshot()) });
    server.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  log.info(`listening on ${formatAddr({ ip: server.host, port: server.port })} (udp)`, {
    version: VERSION,
    alt_port: server.altPort,
    relay: get("relay") ? "on" : "off",
    allow_list: allow ? allow.size : undefined,
    token: token ? "required" : undefined,
    instance: server.instance,
    redis: redis === undefined ? undefined : redactRedis(redis),
    metrics: server.metricsPort === undefined ? undefined : formatAddr({ ip: parseHostPort(metrics!)!.host, port: server.metricsPort }),
  });
}

function flatStats(s: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === "number") out[k] = v;
    else if (v && typeof v === "object") for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2 as number;
  }
  return out;
}

const argv = parseArgv(cli, VERSION, 0);
if (argv) await run(argv.options);
