#!/usr/bin/env bun
// hp-client: register with a rendezvous server, punch a hole to a peer, chat.
// Parses flags and runs the library; the logic lives in src/client/.
import { cac } from "cac";
import { createInterface } from "node:readline";
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DRAIN_TIMEOUT, second } from "../constants.ts";
import { ErrorCodes, isHpError } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { ClientEvent } from "../client/client.ts";
import { resolveStunServers, startClient, type RunningClient } from "../client/udp-client.ts";
import { defaultAddressTokensPath, defaultIdentityPath, defaultKnownPeersPath, loadOrCreateIdentity } from "../identity/identity.ts";
import { fileTokens } from "../client/address-tokens.ts";
import { fingerprint } from "../identity/keys.ts";
import { KnownPeers } from "../identity/known-peers.ts";
import { VERSION } from "../version.ts";
import { parseClientArgs } from "./client-args.ts";
import { natCheck } from "../client/nat-check.ts";
import { describeNat } from "./render.ts";
import { fail, parseArgv } from "./common.ts";
import { renderText } from "./render.ts";
import { PIPE_LABEL, pipeSession } from "./pipe.ts";
import { labelOf, parseExpose, parseForward, type Expose, type Forward } from "../forward/spec.ts";
import { acceptExposed, listenForward } from "../forward/tcp.ts";
import { exposeUdp, flowParts, forwardUdp } from "../forward/udp.ts";
import { resolveHost } from "../net/resolve.ts";
import type { Stream } from "../transport/index.ts";

const cli = cac("hp-client");
cli
  .usage(
    "<server[:port][,server[:port]...]> <name> [peer] [options]\n\n" +
      "  Registers <name> with the rendezvous server; with [peer], punches a direct UDP path\n" +
      "  to that peer. Lines on stdin go to the peer, its lines come out on stdout.\n" +
      "  Several servers (a comma-separated list, or a name with several addresses): one at a\n" +
      "  time, moving to the next when it stops answering.",
  )
  .option("--json", "Print one JSON event per line on stdout instead of chat text")
  .option("--timeout <seconds>", `Give up finding and reaching the peer after this long (default: ${DEFAULT_CONNECT_TIMEOUT / second})`)
  .option("--no-lan", "Do not tell the server (and peers) this host's LAN addresses")
  .option("--identity <path>", `Identity key file, created on first use (default: ${defaultIdentityPath()})`)
  .option("--show-id", "Print this client's public key (its id) and exit")
  .option("--nat-check", "Probe <server>'s two ports and report this network's NAT type, then exit")
  .option("--stun <host:port>", "Also ask this standard STUN server how our NAT maps us (repeatable; default port 3478)")
  .option("--pipe", "stdin/stdout as one raw, binary-safe stream each way instead of chat (events and logs go to stderr)")
  .option("--expose <proto:host:port>", "Let the peer reach this TCP/UDP target through us (repeatable), e.g. tcp:127.0.0.1:22")
  .option("--forward <proto:port[:target]>", "Listen on 127.0.0.1:port and carry connections to the peer's exposed target (repeatable), e.g. tcp:2222")
  .option("--no-relay", "Never use the server's relay (connect directly or fail)")
  .option("--peer-key <key>", "Accept only this public key for [peer] (see the peer's --show-id)")
  .option("--known-peers <path>", `Peers' keys seen before: trust on first use (default: ${defaultKnownPeersPath()})`)
  .option("--token <token>", "Registration token, for servers run with --token")
  .option("--bind <host:port>", "Local address/port to bind (default: all interfaces, a free port)")
  .option("--log-format <format>", "Logs on stderr: text or json (default: text)")
  .option("--verbose", "Debug logs on stderr")
  .option("--quiet", "Only warnings and errors on stderr")
  .example(`hp-client example.org alice              # wait for peers`)
  .example(`hp-client example.org:${DEFAULT_PORT} bob alice  # connect to alice`)
  .example(`hp-client a.example.org,b.example.org bob alice  # two servers, failover`);

async function run(serverArg: string | undefined, name: string | undefined, peer: string | undefined, flags: Record<string, unknown>) {
  const json = Boolean(flags.json);
  const identityPath = typeof flags.identity === "string" ? flags.identity : defaultIdentityPath();
  if (flags.showId) {
    const identity = await loadIdentity(identityPath);
    // stdout: just the key, so `--peer-key "$(hp-client --show-id)"` works; the rest on stderr.
    if (json) process.stdout.write(JSON.stringify({ id: identity.id, fingerprint: fingerprint(identity.publicKey), file: identityPath }) + "\n");
    else {
      process.stdout.write(`${identity.id}\n`);
      process.stderr.write(`fingerprint ${fingerprint(identity.publicKey)}, identity file ${identityPath}\n`);
    }
    return;
  }
  const stun = ([] as unknown[]).concat(flags.stun ?? []).map(String);
  if (flags.natCheck) return runNatCheck(serverArg, json, stun);
  const args = parseClientArgs(serverArg, name, peer, flags);
  const log = createLogger({ format: args.logFormat, level: flags.verbose ? "debug" : flags.quiet ? "warn" : "info", component: "client" });
  const identity = await loadIdentity(identityPath);
  let known: KnownPeers;
  try {
    known = await KnownPeers.load(typeof flags.knownPeers === "string" ? flags.knownPeers : defaultKnownPeersPath());
  } catch (e) {
    fail("IDENTITY_ERROR", (e as Error).message);
  }
  const { bindHost, bindPort, timeoutMs, peerKey } = args;
  name = args.name;

  const pipe = flags.pipe ? pipeSession((code, why) => exit(code, why), ErrorCodes.PEER_LOST) : undefined;
  let exposes: Expose[] = [];
  let forwards: Forward[] = [];
  try {
    exposes = ([] as unknown[]).concat(flags.expose ?? []).map((x) => parseExpose(String(x)));
    forwards = ([] as unknown[]).concat(flags.forward ?? []).map((x) => parseForward(String(x)));
  } catch (e) {
    fail("BAD_ARGUMENT", (e as Error).message);
  }
  if (pipe && (exposes.length || forwards.length)) fail("BAD_ARGUMENT", "--pipe cannot be combined with --expose or --forward");
  // With --pipe, stdout carries the data: events go to stderr.
  const out = pipe ? process.stderr : process.stdout;
  const emit = (e: ClientEvent) => {
    // With --pipe, stdout is the data: chat lines from a peer not in pipe mode are not shown.
    if (pipe && e.event === "message") return;
    if (json) out.write(JSON.stringify(e) + "\n");
    else renderText(e, log);
    if (e.event === "disconnected" && pipe) pipe.disconnected(e.reason);
    if (e.event === "connected" && pipe) {
      const ours = running?.client.openStream(PIPE_LABEL);
      if (ours) pipe.start(ours);
    }
  };
  const onStream = (stream: Stream, label: string): boolean => (pipe ? pipe.onStream(stream, label) : acceptExposed(stream, label, exposes, log));
  if (forwards.filter((f) => f.proto === "udp").length > 1) fail("BAD_ARGUMENT", "one --forward udp per process");
  // UDP: requests from the peer go to our exposed targets, replies to our forward.
  const udpIps = new Map<string, string>();
  for (const e of exposes) if (e.proto === "udp") udpIps.set(e.host, await resolveHost(e.host).catch(() => fail("BAD_ARGUMENT", `--expose udp:${e.host}: cannot resolve`)));
  let udpForward: Awaited<ReturnType<typeof forwardUdp>> | undefined;
  const udpExpose = exposeUdp(exposes, (h) => udpIps.get(h), (flow, d) => running?.client.sendDatagram(flow, d) ?? false, log);
  const onDatagram = (flow: number, data: Uint8Array) => (flowParts(flow).reply ? udpForward?.onReply(flow, data) : udpExpose.onRequest(flow, data));
  let running: RunningClient | undefined;
  let exiting = false;
  const exit = (code: number, reason: string) => {
    if (exiting) return;
    exiting = true;
    if (code !== 0 && reason !== "done") log.error(reason, { exit_code: code });
    running?.stop(reason);
    // Let stdout drain before the process goes.
    setTimeout(() => process.exit(code), 20);
  };

  try {
    running = await startClient({
      server: args.server,
      name,
      identity,
      peer,
      peerKey,
      trust: {
        check: (n, k) => known.check(n, k),
        remember: (n, k) => void known.remember(n, k).catch((e) => log.warn("could not update known peers", { error: (e as Error).message })),
      },
      token: typeof flags.token === "string" ? flags.token : undefined,
      relay: flags.relay === false ? false : undefined,
      timeoutMs,
      lan: flags.lan === false ? false : undefined,
      stun,
      onStream,
      onDatagram,
      addressTokens: fileTokens(defaultAddressTokensPath(), (m) => log.debug(m)),
      bindHost,
      bindPort,
      log,
      onEvent: emit,
      // With --pipe a peer that left normally is not the end: the pipe's streams still settle (what arrived is written out).
      onDone: (code) => (pipe && code === 0 && !pipe.complete ? undefined : exit(code, "done")),
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
  log.info(peer ? `registering as ${name}, then connecting to ${peer}` : `registering as ${name}, waiting for peers`, { server: args.server, id: identity.id });

  for (const f of forwards) {
    try {
      if (f.proto === "udp") udpForward = await forwardUdp(f, (flow, d) => client.sendDatagram(flow, d), log);
      else listenForward(f, (label) => client.openStream(label), log);
      log.info("forwarding", { listen: `127.0.0.1:${f.localPort}`, to: `${peer ?? "the peer"}'s ${labelOf(f)}` });
    } catch (e) {
      fail("SOCKET_ERROR", `--forward tcp:${f.localPort}: ${(e as Error).message}`);
    }
  }
  if (pipe) {
    process.on("SIGINT", () => exit(0, "interrupted"));
    process.on("SIGTERM", () => exit(0, "terminated"));
    return;
  }
  const input = createInterface({ input: process.stdin, terminal: false });
  input.on("line", (line) => client.sendLine(line));
  input.on("close", () => {
    // Listeners and forwarders keep running without input; an initiator leaves once the peer has everything.
    if (peer === undefined || forwards.length > 0 || exposes.length > 0) return;
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

async function runNatCheck(server: string | undefined, json: boolean, stun: string[]): Promise<void> {
  if (server === undefined) fail("BAD_ARGUMENT", "usage: hp-client --nat-check <server[:port]> [--stun host:port ...]");
  if (server.includes(",")) fail("BAD_ARGUMENT", "--nat-check probes one server: give one address, not a list");
  let report;
  try {
    report = await natCheck(server, undefined, await resolveStunServers(stun));
  } catch (e) {
    fail(isHpError(e) ? e.code : "SOCKET_ERROR", (e as Error).message);
  }
  if (json) process.stdout.write(JSON.stringify(report) + "\n");
  else process.stdout.write(describeNat(report));
  process.exit(report.udp ? 0 : ErrorCodes.SERVER_UNREACHABLE);
}

async function loadIdentity(path: string) {
  try {
    const { identity, created } = await loadOrCreateIdentity(path);
    if (created) process.stderr.write(`created identity ${path}: ${identity.id}\n`);
    return identity;
  } catch (e) {
    fail("IDENTITY_ERROR", (e as Error).message);
  }
}

const argv = parseArgv(cli, VERSION, 3);
if (argv) {
  const [server, name, peer] = argv.args;
  await run(server, name, peer, argv.options);
}
