#!/usr/bin/env bun
// hp-server: the rendezvous server. Parses flags and runs the library.
import { cac } from "cac";
import {
  DEFAULT_MAX_CLIENTS,
  DEFAULT_PORT,
  MAX_NAMES_PER_IP,
  RATE_BURST_PER_IP,
  RATE_PER_IP_PER_SECOND,
  RELAY_BYTES_PER_SECOND,
  RELAY_QUOTA_BYTES,
} from "../constants.ts";
import { loadAllowList } from "../identity/allow-list.ts";
import { createLogger, type LogFormat } from "../log.ts";
import { startServer } from "../server/udp-server.ts";
import { VERSION } from "../version.ts";
import { formatAddr } from "../net/address.ts";
import { fail, intOption, parseArgv } from "./common.ts";

const cli = cac("hp-server");
cli
  .usage("[options]\n\n  Rendezvous server for UDP hole punching: clients register names here and get introduced.")
  .option("--host <host>", "Address to bind (default: all interfaces, IPv4 and IPv6)")
  .option("--port <port>", `UDP port (default: ${DEFAULT_PORT})`)
  .option("--alt-port <n>", "Second UDP port for NAT discovery (default: port + 1; off to disable)")
  .option("--alt-host <host>", "Address for the second port (default: --host)")
  .option("--relay-rate <bytes>", `Relay: bytes per second per peer (default: ${RELAY_BYTES_PER_SECOND})`)
  .option("--relay-quota <bytes>", `Relay: bytes per session (default: ${RELAY_QUOTA_BYTES})`)
  .option("--no-relay", "Do not relay for peers that cannot punch")
  .option("--max-clients <n>", `Registry size cap (default: ${DEFAULT_MAX_CLIENTS})`)
  .option("--rate <n>", `Requests per second allowed per source IP, 0 for no limits at all (also none per name) (default: ${RATE_PER_IP_PER_SECOND})`)
  .option("--burst <n>", `Burst allowed per source IP (default: ${RATE_BURST_PER_IP})`)
  .option("--allow <file>", "Only these names and keys may register (lines: <name> <public key>)")
  .option("--token <token>", "Clients must present this registration token (hp-client --token)")
  .option("--max-per-ip <n>", `Names one source IP may hold (default: ${MAX_NAMES_PER_IP})`)
  .option("--log-format <format>", "text or json (default: text)")
  .option("--verbose", "Log every request");

async function run(flags: Record<string, unknown>): Promise<void> {
  const format = (flags.logFormat ?? "text") as LogFormat;
  if (format !== "text" && format !== "json") fail("BAD_ARGUMENT", `--log-format must be text or json, not ${flags.logFormat}`);
  const log = createLogger({ format, level: flags.verbose ? "debug" : "info", component: "server" });
  const port = intOption(flags.port, "--port", DEFAULT_PORT, 0, 65535);
  const maxClients = intOption(flags.maxClients, "--max-clients", DEFAULT_MAX_CLIENTS, 1, 100_000_000);
  const host = typeof flags.host === "string" ? flags.host : undefined;
  const altPort = flags.altPort === "off" ? false : flags.altPort === undefined ? undefined : intOption(flags.altPort, "--alt-port", 0, 0, 65535);
  const relay =
    flags.relay === false
      ? (false as const)
      : {
          bytesPerSecond: intOption(flags.relayRate, "--relay-rate", RELAY_BYTES_PER_SECOND, 1, 1e12),
          quotaBytes: intOption(flags.relayQuota, "--relay-quota", RELAY_QUOTA_BYTES, 1, 1e15),
        };
  const maxPerIp = intOption(flags.maxPerIp, "--max-per-ip", MAX_NAMES_PER_IP, 1, 100_000_000);
  let allow: Map<string, Uint8Array> | undefined;
  if (flags.allow !== undefined) {
    try {
      allow = await loadAllowList(String(flags.allow));
    } catch (e) {
      fail("BAD_ARGUMENT", (e as Error).message);
    }
  }
  if (flags.token !== undefined && (typeof flags.token !== "string" || flags.token === "" || flags.token.length > 256)) {
    fail("BAD_ARGUMENT", "--token must be 1 to 256 characters");
  }
  const token = flags.token as string | undefined;
  const rate = intOption(flags.rate, "--rate", RATE_PER_IP_PER_SECOND, 0, 100_000_000);
  const burst = intOption(flags.burst, "--burst", Math.max(RATE_BURST_PER_IP, rate * 2), 1, 1_000_000_000);
  let server;
  try {
    server = await startServer({
      host,
      port,
      altPort,
      altHost: typeof flags.altHost === "string" ? flags.altHost : undefined,
      relay,
      maxClients,
      maxPerIp,
      allow,
      token,
      log,
      ratePerSecond: rate === 0 ? Number.POSITIVE_INFINITY : rate,
      rateBurst: rate === 0 ? Number.POSITIVE_INFINITY : burst,
      ratePerName: rate === 0 ? Number.POSITIVE_INFINITY : undefined,
    });
  } catch (e) {
    fail("SOCKET_ERROR", `cannot listen on ${host ?? "::"} port ${port}: ${(e as Error).message}`);
  }
  log.info(`listening on ${formatAddr({ ip: server.host, port: server.port })} (udp)`, {
    version: VERSION,
    alt_port: server.altPort,
    relay: relay ? "on" : "off",
    allow_list: allow ? allow.size : undefined,
    token: token ? "required" : undefined,
  });
  const stop = (signal: string) => {
    log.info("shutting down", { signal, registered: server.core.registry.size, ...flatStats(server.core.stats.snapshot()) });
    server.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
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
