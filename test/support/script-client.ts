// A scripted UDP client for server tests: send envelopes or raw bytes, await replies.
import type { Address, Envelope } from "../../src/gen/holepunch/v1/holepunch_pb.ts";
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";
import { registerSigningInput } from "../../src/crypto/server-auth.ts";
import { sign, type Identity } from "../../src/identity/keys.ts";

export interface ScriptClient {
  port: number;
  /** Bytes sent and received so far (for the anti-amplification checks). */
  bytesSent: number;
  bytesReceived: number;
  send(body: Body, txid?: bigint): void;
  sendRaw(bytes: Uint8Array): void;
  /** Next reply (decoded), or rejects after `ms`. */
  next(ms?: number): Promise<Envelope>;
  /** Resolves true if nothing arrives within `ms`. */
  silentFor(ms: number): Promise<boolean>;
  close(): void;
}

export async function scriptClient(serverPort: number, host = "127.0.0.1", bindHost = host): Promise<ScriptClient> {
  const inbox: Envelope[] = [];
  let waiter: ((e: Envelope) => void) | undefined;
  const sock = await Bun.udpSocket({
    hostname: bindHost,
    port: 0,
    socket: {
      data(_s, buf) {
        client.bytesReceived += buf.length;
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
  const client: ScriptClient = {
    port: sock.port,
    bytesSent: 0,
    bytesReceived: 0,
    send: (body, txid = 0n) => client.sendRaw(encodePacket(body, txid)),
    sendRaw: (bytes) => {
      client.bytesSent += bytes.length;
      sock.send(bytes, serverPort, host);
    },
    next,
    silentFor(ms) {
      return next(ms).then(
        () => false,
        () => true,
      );
    },
    close: () => sock.close(),
  };
  return client;
}

/** A hello: the first step of registering (padded as the real client pads it). */
export function hello(name: string, id: Identity, padding = 80): Body {
  return {
    case: "register",
    value: {
      $typeName: "holepunch.v1.Register",
      name,
      publicKey: id.publicKey,
      localAddresses: [],
      software: "test",
      cookie: new Uint8Array(),
      signature: new Uint8Array(),
      token: "",
      additional: false,
      connectTo: "",
      addressToken: new Uint8Array(),
      clientTimeMs: 0n,
      padding: new Uint8Array(padding),
    },
  };
}

export function signedRegister(name: string, id: Identity, cookie: Uint8Array, token = "", locals: Address[] = [], additional = false, connectTo = ""): Body {
  return {
    case: "register",
    value: {
      $typeName: "holepunch.v1.Register",
      name,
      publicKey: id.publicKey,
      localAddresses: locals,
      software: "test",
      cookie,
      signature: sign(id, registerSigningInput({ cookie, name, localAddresses: locals, token, additional, connectTo, addressToken: new Uint8Array(), clientTimeMs: 0n })),
      token,
      additional,
      connectTo,
      addressToken: new Uint8Array(),
      clientTimeMs: 0n,
      padding: new Uint8Array(),
    },
  };
}

/** Runs hello -> Challenge -> signed Register; returns the final reply (RegisterAck or Error). */
export async function registerFully(c: ScriptClient, name: string, id: Identity, token = "", locals: Address[] = []): Promise<Envelope> {
  c.send(hello(name, id), 11n);
  const ch = await c.next();
  if (ch.body.case !== "challenge") return ch;
  c.send(signedRegister(name, id, ch.body.value.cookie, token, locals), 11n);
  return c.next();
}

/** Registers and returns the registration secret (throws if refused). */
export async function registered(c: ScriptClient, name: string, id: Identity): Promise<Uint8Array> {
  const r = await registerFully(c, name, id);
  if (r.body.case !== "registerAck") throw new Error(`registration refused: ${JSON.stringify(r.body)}`);
  return r.body.value.secret;
}

export function keepalive(name: string, secret: Uint8Array): Body {
  return { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name, secret, mapping: 0, portStep: 0 } };
}

export function unregister(name: string, secret: Uint8Array): Body {
  return { case: "unregister", value: { $typeName: "holepunch.v1.Unregister", name, secret } };
}

export function punchRequest(target: string, secret: Uint8Array): Body {
  return { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target, secret, mapping: 0, portStep: 0 } };
}
