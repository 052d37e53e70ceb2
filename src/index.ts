// hole-punch as a library: what hp-server and hp-client do, from TypeScript.
//
//   import { startServer, connect, listen } from "hole-punch";
//
//   const server = await startServer({ host: "127.0.0.1", port: 0 });
//   const peers = listen({ server: `127.0.0.1:${server.port}`, name: "alice" });
//   const bob = await connect({ server: `127.0.0.1:${server.port}`, name: "bob", peer: "alice" });
//   const stream = bob.openStream("greeting");
//
// Every option has a default (see the option types); errors reject with an
// HpError whose `code` is one of the CLI's stable error codes.
import type { ClientEvent } from "./client/client-types.ts";
import type { RunningClient, StartClientOptions } from "./client/udp-client.ts";
import { startClient } from "./client/udp-client.ts";
import { HpError } from "./errors.ts";
import { generateIdentity, type Identity } from "./identity/keys.ts";
import type { PathKind } from "./client/link-types.ts";
import type { Stream } from "./transport/index.ts";

export { startServer, type RunningServer, type ServerOptions } from "./server/udp-server.ts";
export { startClient, type RunningClient, type StartClientOptions } from "./client/udp-client.ts";
export type { ClientEvent } from "./client/client-types.ts";
export { generateIdentity, type Identity } from "./identity/keys.ts";
export { natCheck, type NatReport } from "./client/nat-check.ts";
export { Stream, TransportError } from "./transport/index.ts";
export { HpError } from "./errors.ts";

export interface SessionOptions {
  /** "host", "host:port" or "[v6]:port" of the rendezvous server (default port 39738), or several, comma-separated: the client fails over between them (protocol.md §4.16). */
  server: string;
  /** Our name on the server (1–32 of A-Z a-z 0-9 . _ -). */
  name: string;
  /** Our Ed25519 identity (default: a fresh one; keep one to keep a name across runs). */
  identity?: Identity;
  /** Accept the peer's streams with these labels (default: every label). */
  accept?: (label: string) => boolean;
  /** Passed through to startClient (token, peerKey, relay, stun, timeoutMs, log, ...). */
  client?: Partial<Omit<StartClientOptions, "server" | "name" | "identity" | "peer" | "onEvent" | "onStream" | "onDatagram">>;
}

/** A connected peer: streams both ways, datagrams, path changes. */
export interface Session {
  readonly peer: string;
  /** "direct" or "relay", and the address; updated on path changes. */
  readonly path: { kind: PathKind; address: string };
  /** Opens a reliable, ordered stream; the peer sees `label`. */
  openStream(label?: string): Stream;
  /** Streams the peer opens, as they arrive. */
  streams(): AsyncIterable<{ stream: Stream; label: string }>;
  /** Best-effort datagram on `flow` (false: not sent: too big, or the window is full). */
  sendDatagram(flow: number, data: Uint8Array): boolean;
  onDatagram(fn: (flow: number, data: Uint8Array) => void): void;
  onPathChange(fn: (path: { kind: PathKind; address: string }) => void): void;
  /** Every event the client reports (registered, connected, path, disconnected, error). */
  onEvent(fn: (e: ClientEvent) => void): void;
  close(): void;
}

/** Connects to `peer` by name through the server; resolves once a path is proven both ways. */
export function connect(opts: SessionOptions & { peer: string }): Promise<Session> {
  return new Promise((resolve, reject) => {
    const s = makeSession(opts, opts.peer, (session) => resolve(session), reject);
    s.catch(reject);
  });
}

/** Registers `name` and yields a Session for every peer that connects (one at a time, like hp-client). */
export async function* listen(opts: SessionOptions): AsyncGenerator<Session> {
  const queue: Session[] = [];
  let wake: (() => void) | undefined;
  let failed: unknown;
  await makeSession(opts, undefined, (session) => {
    queue.push(session);
    wake?.();
  }, (e) => {
    failed = e;
    wake?.();
  });
  for (;;) {
    while (queue.length) yield queue.shift()!;
    if (failed) throw failed;
    await new Promise<void>((r) => (wake = r));
  }
}

async function makeSession(opts: SessionOptions, peer: string | undefined, onConnected: (s: Session) => void, onError: (e: unknown) => void): Promise<RunningClient> {
  const incoming: Array<{ stream: Stream; label: string }> = [];
  let wakeStreams: (() => void) | undefined;
  const datagramFns: Array<(flow: number, data: Uint8Array) => void> = [];
  const pathFns: Array<(p: { kind: PathKind; address: string }) => void> = [];
  const eventFns: Array<(e: ClientEvent) => void> = [];
  let running: RunningClient | undefined;
  let session: (Session & { path: { kind: PathKind; address: string } }) | undefined;
  running = await startClient({
    ...opts.client,
    server: opts.server,
    name: opts.name,
    peer,
    identity: opts.identity ?? generateIdentity(),
    onStream: (stream, label) => {
      if (opts.accept && !opts.accept(label)) return false;
      incoming.push({ stream, label });
      wakeStreams?.();
      return true;
    },
    onDatagram: (flow, data) => datagramFns.forEach((f) => f(flow, data)),
    onEvent: (e) => {
      eventFns.forEach((f) => f(e));
      if (e.event === "connected") {
        session = {
          peer: e.peer,
          path: { kind: e.path, address: e.address },
          openStream: (label = "") => {
            const s = running!.client.openStream(label);
            if (!s) throw new HpError("PEER_LOST", `not connected to ${e.peer}`);
            return s;
          },
          async *streams() {
            for (;;) {
              while (incoming.length) yield incoming.shift()!;
              await new Promise<void>((r) => (wakeStreams = r));
            }
          },
          sendDatagram: (flow, data) => running!.client.sendDatagram(flow, data),
          onDatagram: (fn) => void datagramFns.push(fn),
          onPathChange: (fn) => void pathFns.push(fn),
          onEvent: (fn) => void eventFns.push(fn),
          close: () => running!.stop("closed"),
        };
        onConnected(session);
      } else if (e.event === "path" && session) {
        session.path = { kind: e.path, address: e.address };
        pathFns.forEach((f) => f(session!.path));
      } else if (e.event === "error") {
        onError(new HpError(e.code, e.message));
      }
    },
  });
  return running;
}
