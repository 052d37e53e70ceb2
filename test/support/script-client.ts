// A scripted UDP client for server tests: send envelopes or raw bytes, await replies.
import type { Envelope } from "../../src/gen/holepunch/v1/holepunch_pb.ts";
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";

export interface ScriptClient {
  port: number;
  send(body: Body, txid?: bigint): void;
  sendRaw(bytes: Uint8Array): void;
  /** Next reply (decoded), or rejects after `ms`. */
  next(ms?: number): Promise<Envelope>;
  /** Resolves true if nothing arrives within `ms`. */
  silentFor(ms: number): Promise<boolean>;
  close(): void;
}

export async function scriptClient(serverPort: number, host = "127.0.0.1"): Promise<ScriptClient> {
  const inbox: Envelope[] = [];
  let waiter: ((e: Envelope) => void) | undefined;
  const sock = await Bun.udpSocket({
    hostname: host,
    port: 0,
    socket: {
      data(_s, buf) {
        const env = decodePacket(new Uint8Array(buf));
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w(env);
        } else inbox.push(env);
      },
      error() {},
    },
  });
  const next = (ms = 1000): Promise<Envelope> => {
    const queued = inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`no reply within ${ms} ms`));
      }, ms);
      waiter = (e) => {
        clearTimeout(t);
        resolve(e);
      };
    });
  };
  return {
    port: sock.port,
    send: (body, txid = 0n) => void sock.send(encodePacket(body, txid), serverPort, host),
    sendRaw: (bytes) => void sock.send(bytes, serverPort, host),
    next,
    silentFor(ms) {
      return next(ms).then(
        () => false,
        () => true,
      );
    },
    close: () => sock.close(),
  };
}

export const instanceA = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
export const instanceB = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);

export function register(name: string, instance = instanceA): Body {
  return { case: "register", value: { $typeName: "holepunch.v1.Register", name, instance, localAddresses: [], software: "test" } };
}

export function keepalive(name: string, instance = instanceA): Body {
  return { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name, instance } };
}

export function punchRequest(target: string): Body {
  return { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target } };
}
