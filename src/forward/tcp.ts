// TCP forwarding over the session's streams (hp-client --forward / --expose):
// each TCP connection is one stream, bytes copied both ways with backpressure
// (a full stream pauses the socket; a full socket stops reading the stream),
// a half-close passed on as FIN and back. I/O glue over Bun's TCP sockets.
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import type { Stream } from "../transport/index.ts";
import { type Expose, type Forward, labelOf, matchExpose } from "./spec.ts";

interface Conn {
  stream?: Stream;
  /** Bytes the socket did not take yet (TCP backpressure). */
  pending: Uint8Array[];
  closed: boolean;
}

/** Copies a stream into a socket until the stream ends; honours the socket's backpressure. */
async function streamToSocket(stream: Stream, socket: Socket<Conn>, log: Logger): Promise<void> {
  try {
    for await (const chunk of stream) {
      if (socket.data.closed) return;
      const n = socket.write(chunk);
      if (n < chunk.length) {
        socket.data.pending.push(chunk.subarray(Math.max(0, n)));
        await new Promise<void>((resolve) => (socket.data as Conn & { drained?: () => void }).drained = resolve);
      }
    }
    socket.shutdown(true); // the peer's side finished writing: half-close ours
  } catch (e) {
    log.debug("forwarded stream ended", { error: (e as Error).message });
    socket.end();
  }
}

const handlers = (log: Logger, onOpen: (socket: Socket<Conn>) => void) => ({
  open: onOpen,
  data(socket: Socket<Conn>, data: Uint8Array) {
    const stream = socket.data.stream;
    if (!stream) return;
    // Copy: Bun reuses the receive buffer.
    if (!stream.write(new Uint8Array(data))) {
      socket.pause();
      void stream.writable().then(() => socket.resume(), () => socket.end());
    }
  },
  drain(socket: Socket<Conn>) {
    const c = socket.data as Conn & { drained?: () => void };
    while (c.pending.length) {
      const chunk = c.pending[0]!;
      const n = socket.write(chunk);
      if (n < chunk.length) {
        c.pending[0] = chunk.subarray(Math.max(0, n));
        return;
      }
      c.pending.shift();
    }
    const d = c.drained;
    c.drained = undefined;
    d?.();
  },
  end(socket: Socket<Conn>) {
    socket.data.stream?.end(); // FIN: the local side is done writing
  },
  close(socket: Socket<Conn>) {
    socket.data.closed = true;
    const s = socket.data.stream;
    if (s && !s.recvEnded) s.reset();
  },
  error(socket: Socket<Conn>, e: Error) {
    log.debug("forwarded TCP connection failed", { error: e.message });
    socket.data.stream?.reset();
  },
});

/** --forward tcp:PORT: a listener on 127.0.0.1:PORT whose connections become streams to the peer. */
export function listenForward(f: Forward, open: (label: string) => Stream | undefined, log: Logger): TCPSocketListener<Conn> {
  return Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: f.localPort,
    data: { pending: [], closed: false },
    socket: handlers(log, (socket) => {
      socket.data = { pending: [], closed: false };
      const stream = open(labelOf(f));
      if (!stream) {
        log.warn("no peer connected: closing the forwarded connection", { port: f.localPort });
        return void socket.end();
      }
      socket.data.stream = stream;
      void streamToSocket(stream, socket, log);
    }),
  });
}

/** --expose: a stream from the peer asking for an exposed TCP target; false (refuse) when the label matches none. */
export function acceptExposed(stream: Stream, label: string, exposes: readonly Expose[], log: Logger): boolean {
  const target = matchExpose(label, exposes);
  if (!target || target.proto !== "tcp") return false;
  const conn: Conn = { stream, pending: [], closed: false };
  Bun.connect<Conn>({
    hostname: target.host,
    port: target.port,
    data: conn,
    socket: handlers(log, (socket) => void streamToSocket(stream, socket, log)),
  }).catch((e: Error) => {
    log.warn("exposed target unreachable", { target: `${target.host}:${target.port}`, error: e.message });
    stream.reset();
  });
  return true;
}
