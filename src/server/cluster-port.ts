// What a Rendezvous needs from a cluster of server instances (hp-server
// --redis): a shared name -> registration map and a way to tell another
// instance something. The Rendezvous stays free of I/O; src/cluster/ implements
// this over Redis. Every method degrades instead of throwing: with Redis
// down, claims succeed locally, lookups find nothing and messages go nowhere.
import type { ClusterMessage, ClusterRecord } from "../gen/holepunch/v1/cluster_pb.ts";

export type ClusterBody = NonNullable<ClusterMessage["body"]>;

export type ClaimResult =
  /** Ours now. `previous`: the instance that held it before, if another. */
  | { ok: true; previous?: string }
  /** Another key holds the name (at `holder`). */
  | { ok: false; holder: string };

export interface ClusterPort {
  /** This instance's id. */
  readonly instance: string;
  /** Redis is reachable now. */
  readonly up: boolean;
  /** Writes `record` (this instance's) under `name` unless another key holds the name; sets its TTL. */
  claim(name: string, record: ClusterRecord, ttlMs: number): Promise<ClaimResult>;
  /** Rewrites `record` (and its TTL) while this instance holds the name with this key, or nobody does. */
  refresh(name: string, record: ClusterRecord, ttlMs: number): Promise<ClaimResult>;
  /** The registration of `name` anywhere in the cluster. */
  lookup(name: string): Promise<ClusterRecord | undefined>;
  /** Deletes `name` if this instance holds it with `publicKey` (Unregister). */
  release(name: string, publicKey: Uint8Array): void;
  /** One token per pair of names at the same addresses (`where`), shared by every instance; `fresh` if none is live. */
  introToken(pair: string, where: string, fresh: Uint8Array, ttlMs: number): Promise<Uint8Array>;
  /** Sends to `instance`; false when no instance listens under that id (gone) or Redis is down. */
  tell(instance: string, body: ClusterBody): Promise<boolean>;
  /** The registrations Redis holds for this instance (a restart takes them back). */
  restore(): Promise<Array<{ name: string; record: ClusterRecord }>>;
  /** Messages from other instances, and "Redis is back" (every registration should be written again). */
  listen(handlers: { message(from: string, body: ClusterBody): void; reconnected(): void }): void;
  close(): void;
}
