// What a HolePunchClient is made with and what it reports.
import type { Clock } from "../clock.ts";
import type { ErrorCode } from "../errors.ts";
import type { Identity } from "../identity/keys.ts";
import type { Logger } from "../log.ts";
import type { Addr } from "../net/address.ts";
import type { AddressTokens } from "./address-tokens.ts";
import type { PathKind } from "./link-types.ts";
import type { PeerTrust } from "./trust.ts";
import type { Stream } from "../transport/index.ts";

export type ClientEvent =
  | { event: "registered"; name: string; observed: string }
  | { event: "connected"; peer: string; address: string; path: PathKind; rtt_ms: number }
  | { event: "path"; peer: string; address: string; path: PathKind }
  | { event: "message"; from: string; text: string }
  | { event: "disconnected"; peer: string; reason: string; unacked: number }
  | { event: "error"; code: ErrorCode; message: string };

/** The runner's extra UDP sockets: packets they receive go to handle(bytes, from, id). */
export interface ExtraSocketsIO {
  open(n: number, ready: (ids: number[]) => void): void;
  send(id: number, bytes: Uint8Array, to: Addr): void;
  close(ids: readonly number[]): void;
}

export interface ClientOptions {
  /** The rendezvous server, or several (one at a time; the next when one stops answering). */
  server: Addr | readonly Addr[];
  name: string;
  /** This client's Ed25519 identity: the name is bound to its key. */
  identity: Identity;
  /** Accept only this key for `peer` (--peer-key). */
  peerKey?: Uint8Array;
  /** Known peers (default: in memory, trust on first use). */
  trust?: PeerTrust;
  /** Shared registration token for servers run with --token. */
  token?: string;
  /** Peer to connect to; without it the client waits for peers to connect to it. */
  peer?: string;
  /** Budget for finding and reaching the peer, ms (default 30 s). */
  timeoutMs?: number;
  /** LAN candidates to advertise (default none). */
  locals?: Addr[];
  clock: Clock;
  send: (bytes: Uint8Array, to: Addr) => void;
  onEvent: (e: ClientEvent) => void;
  /** The client has nothing left to do: a fatal error, or (initiator) the peer left. */
  onDone?: (exitCode: number) => void;
  log?: Logger;
  /** Overrides of protocol timers (tests). */
  punchTimeoutMs?: number;
  peerTimeoutMs?: number;
  registerTimeoutMs?: number;
  rekey?: { packets: number; ms: number };
  /** Use the server's relay when punching is slow or fails (default true). */
  relay?: boolean;
  /** Extra sockets for birthday punching (without them, easy <-> hard pairs use the relay). */
  sockets?: ExtraSocketsIO;
  /** Randomness for punching (default Math.random; tests inject a seeded one). */
  random?: () => number;
  relayAfterMs?: number;
  /** This host also has a global address in the other family than the server's: register it too, when the server offers one. */
  otherFamily?: boolean;
  /** Standard STUN servers to ask for our mapping too (--stun). */
  stunServers?: Addr[];
  /** The peer opened a stream (other than chat): return true to accept it (default: refuse). */
  onStream?: (stream: Stream, label: string) => boolean;
  /** An unreliable datagram from the peer. */
  onDatagram?: (flow: number, data: Uint8Array) => void;
  /** Servers' address tokens for 0-RTT registration (default: in memory). */
  addressTokens?: AddressTokens;
}
