// hp-client's positional arguments and flags, checked before anything is
// created on disk or the network: each problem is one line and exit code 2
// (or 4 for names).
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, NAME_PATTERN, second } from "../constants.ts";
import { parseServerList } from "../client/server-list.ts";
import { keyFromText } from "../identity/keys.ts";
import type { LogFormat } from "../log.ts";
import { fail, numberOption } from "./common.ts";

export interface ClientArgs {
  /** One server or several, comma-separated (checked here, resolved when the client starts). */
  server: string;
  name: string;
  peer?: string;
  peerKey?: Uint8Array;
  timeoutMs: number;
  bindHost?: string;
  bindPort?: number;
  logFormat: LogFormat;
}

export function parseClientArgs(server: string | undefined, name: string | undefined, peer: string | undefined, flags: Record<string, unknown>): ClientArgs {
  if (server === undefined || name === undefined) fail("BAD_ARGUMENT", "usage: hp-client <server[:port][,server[:port]...]> <name> [peer] (see --help)");
  try {
    parseServerList(server, DEFAULT_PORT);
  } catch (e) {
    fail("BAD_ARGUMENT", (e as Error).message);
  }
  const logFormat = (flags.logFormat ?? "text") as LogFormat;
  if (logFormat !== "text" && logFormat !== "json") fail("BAD_ARGUMENT", `--log-format must be text or json, not ${flags.logFormat}`);
  const timeoutMs = numberOption(flags.timeout, "--timeout", DEFAULT_CONNECT_TIMEOUT / second, 0.1, 86_400) * second;
  if (!NAME_PATTERN.test(name)) fail("NAME_INVALID", `invalid name ${JSON.stringify(name)}: use 1-32 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  if (peer !== undefined && !NAME_PATTERN.test(peer)) fail("NAME_INVALID", `invalid peer name ${JSON.stringify(peer)}`);
  if (peer === name) fail("BAD_ARGUMENT", "a client cannot connect to itself: pick a different peer name");
  let peerKey: Uint8Array | undefined;
  if (flags.peerKey !== undefined) {
    if (peer === undefined) fail("BAD_ARGUMENT", "--peer-key needs a [peer]");
    try {
      peerKey = keyFromText(String(flags.peerKey));
    } catch (e) {
      fail("BAD_ARGUMENT", `--peer-key: ${(e as Error).message}`);
    }
  }
  if (flags.token !== undefined && (typeof flags.token !== "string" || flags.token.length === 0 || flags.token.length > 256)) {
    fail("BAD_ARGUMENT", "--token must be 1 to 256 characters");
  }
  let bindHost: string | undefined;
  let bindPort: number | undefined;
  if (flags.bind !== undefined) {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(String(flags.bind));
    if (!m) fail("BAD_ARGUMENT", `--bind must be host:port, not ${flags.bind}`);
    bindHost = m[1] || undefined;
    bindPort = Number(m[2]);
  }
  return { server, name, peer, peerKey, timeoutMs, bindHost, bindPort, logFormat };
}
