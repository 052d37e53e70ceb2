// The types a PeerLink is made with, and small helpers on candidate addresses.
import type { Identity } from "../identity/keys.ts";
import { addrKey, type Addr } from "../net/address.ts";
import type { BirthdayRole } from "./birthday.ts";
import type { Stream } from "../transport/index.ts";

export type LinkState = "punching" | "connected" | "closed";
export type PathKind = "direct" | "relay";

/**
 * The relay as a candidate: packets "sent" here go to the server wrapped in
 * RelayData, and those that come back through it are handled as if from here.
 * Never handed to a socket.
 */
export const RELAY: Addr = Object.freeze({ ip: "relay", port: 0 });
export const isRelay = (a: Addr): boolean => a.ip === RELAY.ip;
export const isV6 = (a: Addr): boolean => a.ip.includes(":");

export interface LinkEvents {
  connected(address: Addr, rttMs: number, path: PathKind): void;
  /** The session moved to another path (relay -> direct upgrade). */
  pathChanged(address: Addr, path: PathKind): void;
  message(text: string): void;
  /** Connected through the relay, and the relay went silent while we waited for answers. */
  relayDead?(): void;
  /** `wasConnected`: the link had reached "connected" before it closed. */
  closed(reason: string, code: "PUNCH_FAILED" | "PEER_LOST" | undefined, unacked: number, wasConnected: boolean): void;
  dropped(reason: string): void;
}

export interface LinkOptions {
  selfName: string;
  peerName: string;
  token: Uint8Array;
  candidates: Addr[];
  identity: Identity;
  /** The peer's Ed25519 key, as the server vouched for it (and we accepted). */
  peerKey: Uint8Array;
  punchTimeoutMs?: number;
  peerTimeoutMs?: number;
  keepaliveMs?: number;
  /** Rekey limits (tests use small ones). */
  rekey?: { packets: number; ms: number };
  /** The server offers to relay this attempt, and we may use it. */
  relay?: boolean;
  /** Punching this long without a path brings the relay in (default RELAY_AFTER). */
  relayAfterMs?: number;
  /** Easy <-> hard NATs: our part of the birthday-paradox method, and the extra sockets it needs. */
  birthday?: BirthdayRole;
  /** The peer's NAT allocates ports in this step (sequential): also probe the next few after its observed one. */
  predictStep?: number;
  sockets?: ExtraSockets;
  /** Randomness for the birthday spray (tests inject a seeded one). */
  random?: () => number;
  /** The peer opened a stream other than chat: accept (true) or refuse (see SessionOptions). */
  onStream?: (stream: Stream, label: string) => boolean;
  onDatagram?: (flow: number, data: Uint8Array) => void;
  /** We have an IPv6 address too: after connecting over IPv4, keep a moment for IPv6 candidates that arrive late. */
  dualStack?: boolean;
}

/** Extra UDP sockets for birthday punching (the client's runner owns them). */
export interface ExtraSockets {
  /** Opens `n` sockets; calls `ready` with their ids once bound. */
  open(n: number, ready: (ids: number[]) => void): void;
  close(ids: readonly number[]): void;
}

export function dedupe(list: Addr[]): Addr[] {
  const seen = new Set<string>();
  return list.filter((a) => !seen.has(addrKey(a)) && seen.add(addrKey(a)));
}
