#!/usr/bin/env bun
// hp-client: register with a rendezvous server, punch a hole to a peer, chat.
// Parses flags and runs the library; the logic lives in src/client/.
import { cac } from "cac";
import { createInterface } from "node:readline";
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DRAIN_TIMEOUT, NAME_PATTERN, second } from "../constants.ts";
import { ErrorCodes, isHpError } from "../errors.ts";
import { createLogger, type LogFormat } from "../log.ts";
import type { ClientEvent } from "../client/client.ts";
import { startClient, type RunningClient } from "../client/udp-client.ts";
import { VERSION } from "../version.ts";
import { fail, numberOption } from "./common.ts";
import { renderText } from "./render.ts";

const cli = cac("hp-client");
cli
  .command("<server> <name> [peer]", "Register <name> at <server[:port]>; with [peer], connect to it")
  .option("--json", "Print one JSON event per line on stdout instead of chat text")
  .option("--timeout <seconds>", `Give up finding and reaching the peer after this long (default: ${DEFAULT_CONNECT_TIMEOUT / second})`)
  .option("--no-lan", "Do not tell the server (and peers) this host's LAN addresses")
  .option("--bind <host:port>", "Local address/port to bind (default: all interfaces, a free port)")
  .option("--log-format <format>", "Logs on stderr: text or json (default: text)")
  .option("--verbose", "Debug logs on stderr")
  .option("--quiet", "Only warnings and errors on stderr")
  .example(`hp-client example.org alice              # wait for peers`)
  .example(`hp-client example.org:${DEFAULT_PORT} bob alice  # connect to alice`)
  .action(run);

async function run(serverArg: string, name: string, peer: string | undefined, flags: Record<string, unknown>) {
  const json = Boolean(flags.json);
  const format = (flags.logFormat ?? "text") as LogFormat;
  if (format !== "text" && format !== "json") fail("BAD_ARGUMENT", `--log-format must be text or json, not ${flags.logFormat}`);
  const log = createLogger({ format, level: flags.verbose ? "debug" : flags.quiet ? "warn" : "info", component: "client" });
  const timeoutMs = numberOption(flags.timeout, "--timeout", DEFAULT_CONNECT_TIMEOUT / second, 0.1, 86_400) * second;
  if (!NAME_PATTERN.test(name)) fail("NAME_INVALID", `invalid name ${JSON.stringify(name)}: use 1-32 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  if (peer !== undefined && !NAME_PATTERN.test(peer)) fail("NAME_INVALID", `invalid peer name ${JSON.stringify(peer)}`);
  if (peer === name) fail("BAD_ARGUMENT", "a client cannot connect to itself: pick a different peer name");
  let bindHost: string | undefined;
  let bindPort: number | undefined;
  if (typeof flags.bind === "string") {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(flags.bind);
    if (!m) fail("BAD_ARGUMENT", `--bind must be host:port, not ${flags.bind}`);
    bindHost = m[1] || undefined;
    bindPort = Number(m[2]);
  }

  const emit = (e: ClientEvent) => {
    if (json) process.stdout.write(JSON.stringify(e) + "\n");
    else renderText(e, log);
  };
  let running: RunningClient | undefined;
  let exiting = false;
  const exit = (code: number, reason: string) => {
    if (exiting) return;
    exiting = true;
    running?.stop(reason);
    // Let stdout drain before the process goes.
    setTimeout(() => process.exit(code), 20);
  };

  try {
    running = await startClient({
      server: serverArg,
      name,
      peer,
      timeoutMs,
      lan: flags.lan === false ? false : undefined,
      bindHost,
      bindPort,
      log,
      onEvent: emit,
      onDone: (code) => exit(code, "done"),
    });
  } catch (e) {
    if (isHpError(e)) {
      emit({ event: "error", code: e.code, message: e.message });
      if (!json) process.stderr.write(`error: ${e.message}\n`);
      exit(e.exitCode, e.code);
      return;
    }
    fail("SOCKET_ERROR", (e as Error).message);
  }
  const client = running.client;
  log.info(peer ? `registering as ${name}, then connecting to ${peer}` : `registering as ${name}, waiting for peers`, { server: serverArg });

  const input = createInterface({ input: process.stdin, terminal: false });
  input.on("line", (line) => client.sendLine(line));
  input.on("close", () => {
    // Listeners keep running without input; an initiator leaves once the peer has everything.
    if (peer === undefined) return;
    let connectedAt: number | undefined;
    const check = setInterval(() => {
      if (!client.isConnected) return;
      connectedAt ??= performance.now();
      if (client.unacked === 0) {
        clearInterval(check);
        exit(0, "end of input");
      } else if (performance.now() - connectedAt > DRAIN_TIMEOUT) {
        clearInterval(check);
        emit({ event: "error", code: "PEER_LOST", message: `${client.unacked} chunk(s) not acknowledged by ${peer}` });
        exit(ErrorCodes.PEER_LOST, "drain timeout");
      }
    }, 50);
  });
  process.on("SIGINT", () => exit(0, "interrupted"));
  process.on("SIGTERM", () => exit(0, "terminated"));
}

cli.help();
cli.version(VERSION);
try {
  cli.parse(process.argv, { run: false });
  if (!cli.options.help && !cli.options.version) {
    if (!cli.matchedCommand) fail("BAD_ARGUMENT", "usage: hp-client <server[:port]> <name> [peer] (see --help)");
    await cli.runMatchedCommand();
  }
} catch (e) {
  fail("BAD_ARGUMENT", (e as Error).message);
}
