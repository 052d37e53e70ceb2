// The one place that touches Bun.udpSocket. Every datagram goes to one
// handler (the owner's classifier); every socket has an error handler (an
// unhandled socket error would exit the process); send failures are counted,
// never thrown.
import type { Addr } from "./address.ts";
import { normalizeIp } from "./address.ts";
import type { Logger } from "../log.ts";

export interface UdpEndpoint {
  readonly port: number;
  readonly hostname: string;
  send(bytes: Uint8Array, to: Addr): boolean;
  close(): void;
  readonly sendErrors: number;
}

export async function bindUdp(opts: {
  hostname: string;
  port: number;
  onPacket: (bytes: Uint8Array, from: Addr) => void;
  log: Logger;
}): Promise<UdpEndpoint> {
  let sendErrors = 0;
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
        opts.log.debug("socket error", { error: err?.message ?? String(err) });
      },
    },
  });
  return {
    port: socket.port,
    hostname: opts.hostname,
    get sendErrors() {
      return sendErrors;
    },
    send(bytes, to) {
      try {
        return socket.send(bytes, to.port, to.ip);
      } catch (e) {
        sendErrors++;
        opts.log.debug("send failed", { to: `${to.ip}:${to.port}`, error: (e as Error).message });
        return false;
      }
    },
    close() {
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
