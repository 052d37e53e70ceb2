// The one place that touches Bun.udpSocket. Every datagram goes to one
// handler (the owner's classifier); every socket has an error handler (an
// unhandled socket error would exit the process); send failures are counted,
// never thrown.
import type { Addr } from "./address.ts";
import { normalizeIp } from "./address.ts";
import type { Logger } from "../log.ts";

/** Datagrams per sendMany call at most. */
const MAX_BATCH = 256;
/** Reply slab of a batching socket (alloc()): 256 replies of up to 1 KiB before a flush. */
const SLAB_BYTES = 256 * 1024;

export interface UdpEndpoint {
  readonly port: number;
  /** The socket's file descriptor (for options Bun does not expose). */
  readonly fd: number;
  readonly hostname: string;
  send(bytes: Uint8Array, to: Addr): boolean;
  /**
   * Room for one reply about to be sent from this socket: with batched sends
   * a view into a slab that is reused once the batch is out (so: fill it, send
   * it, keep nothing), else a new array.
   */
  alloc(bytes: number): Uint8Array;
  close(): void;
  readonly sendErrors: number;
}

export async function bindUdp(opts: {
  hostname: string;
  port: number;
  onPacket: (bytes: Uint8Array, from: Addr) => void;
  log: Logger;
  /**
   * Queue sends and hand them to the kernel in one sendMany per event-loop
   * turn (a server answering bursts: one syscall for many replies).
   */
  batchSends?: boolean;
}): Promise<UdpEndpoint> {
  let sendErrors = 0;
  // [data, port, ip, data, port, ip, ...] as sendMany takes it.
  const queue: Array<Uint8Array | number | string> = [];
  let flushScheduled = false;
  const slab = opts.batchSends ? new Uint8Array(SLAB_BYTES) : undefined;
  let slabAt = 0;
  const socket = await Bun.udpSocket({
    hostname: opts.hostname,
    port: opts.port,
    socket: {
      data(_s, buf, port, ip) {
        try {
          opts.onPacket(buf, { ip: normalizeIp(ip), port });
        } catch (e) {
          // A handler bug must not take the process down: log it and go on.
          opts.log.error("packet handler failed", { error: (e as Error)?.stack ?? String(e) });
        }
      },
      error(_s, err) {
        sendErrors++;
        opts.log.debug("socket error", { error: err?.message || (err as { code?: string })?.code || String(err) });
      },
    },
  });
  function flush(): void {
    flushScheduled = false;
    if (queue.length === 0) return;
    const batch = queue;
    try {
      const sent = socket.sendMany(batch);
      if (sent < batch.length / 3) sendErrors += batch.length / 3 - sent;
    } catch (e) {
      // One bad destination fails the whole call: retry one by one so the rest still go.
      for (let i = 0; i < batch.length; i += 3) {
        try {
          socket.send(batch[i] as Uint8Array, batch[i + 1] as number, batch[i + 2] as string);
        } catch {
          sendErrors++;
        }
      }
      opts.log.debug("sendMany failed", { error: (e as Error).message });
    }
    // sendMany copied everything into the kernel: the queue and the slab are free again.
    queue.length = 0;
    slabAt = 0;
  }
  return {
    port: socket.port,
    // Present at run time (Bun 1.4.4), missing from its type declarations.
    fd: (socket as unknown as { fd: number }).fd,
    hostname: opts.hostname,
    get sendErrors() {
      return sendErrors;
    },
    alloc(bytes) {
      if (!slab || bytes > SLAB_BYTES) return new Uint8Array(bytes);
      if (slabAt + bytes > SLAB_BYTES) flush();
      const view = slab.subarray(slabAt, slabAt + bytes);
      slabAt += bytes;
      return view;
    },
    send(bytes, to) {
      if (opts.batchSends) {
        queue.push(bytes, to.port, to.ip);
        if (queue.length >= MAX_BATCH * 3) flush();
        else if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
        return true;
      }
      try {
        return socket.send(bytes, to.port, to.ip);
      } catch (e) {
        sendErrors++;
        opts.log.debug("send failed", { to: `${to.ip}:${to.port}`, error: (e as Error).message });
        return false;
      }
    },
    close() {
      flush();
      socket.close();
    },
  };
}

/** Binds "::" (dual-stack) when possible, else falls back to IPv4 "0.0.0.0". */
export async function bindUdpAny(opts: Omit<Parameters<typeof bindUdp>[0], "hostname"> & { hostname?: string }) {
  if (opts.hostname) return bindUdp({ ...opts, hostname: opts.hostname });
  try {
    return await bindUdp({ ...opts, hostname: "::" });
  } catch {
    return await bindUdp({ ...opts, hostname: "0.0.0.0" });
  }
}
