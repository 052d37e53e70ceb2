// What a ServerLink is made with and what it reports.
import type { HolePunchInitiate } from "../gen/holepunch/v1/holepunch_pb.ts";
import type { ErrorCode as HpErrorCode } from "../errors.ts";
import type { Identity } from "../identity/keys.ts";
import type { Addr } from "../net/address.ts";
import type { StunServers } from "./nat-discovery.ts";
import type { ServerList } from "./server-list.ts";

export interface ServerLinkEvents {
  /** `serverAddresses`: the server's addresses in our other address family, if it has any. */
  registered(observed: Addr, first: boolean, serverAddresses: Addr[]): void;
  initiate(init: HolePunchInitiate): void;
  fatal(code: HpErrorCode, message: string): void;
  dropped(reason: string): void;
  /** Several servers: `from` stopped answering, we register at `to` now. */
  moved?(from: Addr, to: Addr): void;
}

export interface ServerLinkOptions {
  /** The servers' main addresses and the current one (alternate ports are learned from NatProbeAck). */
  servers: ServerList;
  name: string;
  identity: Identity;
  locals: Addr[];
  software: string;
  /** Shared registration token, for servers run with --token. */
  token?: string;
  registerTimeoutMs?: number;
  /** Standard STUN servers to ask too (NAT discovery against independent servers). */
  stun?: StunServers;
  /** The current server's address token (0-RTT registration), kept across runs by the caller. */
  addressToken?: { get(): Uint8Array | undefined; set(token: Uint8Array | undefined): void };
  /** Wall clock for 0-RTT client times (default Date.now). */
  wallNow?: () => number;
}
