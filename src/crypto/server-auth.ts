// What the server and its clients authenticate, and how:
// - cookie: stateless return-routability proof (like QUIC Retry / DTLS
//   HelloVerifyRequest): time || HMAC(server key, time, address, public key).
// - register signature input: the client's Ed25519 signature covers the
//   cookie (fresh, bound to its address), the name, the token and the LAN
//   candidates: everything the server acts on.
// - Initiate auth: HMAC with the recipient's registration secret over every
//   field the client acts on, so an off-path spoofer cannot forge one.
import type { HolePunchInitiate, Register } from "../gen/holepunch/v1/holepunch_pb.ts";
import { ADDRESS_TOKEN_LIFETIME, COOKIE_LIFETIME } from "../constants.ts";
import { ipToBytes, type Addr } from "../net/address.ts";
import { equalBytes, framed, mac } from "./kdf.ts";

export const COOKIE_BYTES = 24;

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(n))));
  return b;
}

function port2(p: number): Uint8Array {
  return Uint8Array.of(p >> 8, p & 0xff);
}

export function makeCookie(key: Uint8Array, nowMs: number, from: Addr, publicKey: Uint8Array): Uint8Array {
  const ts = u64(nowMs);
  const out = new Uint8Array(COOKIE_BYTES);
  out.set(ts, 0);
  out.set(mac(key, [framed("hole-punch cookie v1", ts, ipToBytes(from.ip), port2(from.port), publicKey)]), 8);
  return out;
}

export function checkCookie(key: Uint8Array, cookie: Uint8Array, nowMs: number, from: Addr, publicKey: Uint8Array): boolean {
  if (cookie.length !== COOKIE_BYTES) return false;
  const ts = Number(new DataView(cookie.buffer, cookie.byteOffset, 8).getBigUint64(0));
  if (ts > nowMs + 1000 || nowMs - ts > COOKIE_LIFETIME) return false;
  return equalBytes(makeCookie(key, ts, from, publicKey), cookie);
}

/** What a Register's signature covers: everything the server acts on. */
export function registerSigningInput(r: Pick<Register, "cookie" | "name" | "localAddresses" | "token" | "additional" | "connectTo" | "addressToken" | "clientTimeMs">): Uint8Array {
  // The cookie, or (0-RTT) the address token in its place.
  const proof = r.cookie.length ? r.cookie : r.addressToken;
  const parts: Array<Uint8Array | string> = ["hole-punch register v1", proof, r.name, r.token];
  for (const a of r.localAddresses) parts.push(a.ip, port2(a.port));
  // Appended only when set (each tagged), so a plain registration signs what it always signed.
  if (r.additional) parts.push("additional");
  if (r.connectTo) parts.push(`connect ${r.connectTo}`);
  if (r.clientTimeMs) parts.push(`time ${r.clientTimeMs}`);
  return framed(...parts);
}

export const ADDRESS_TOKEN_BYTES = 24;

/**
 * Address token (0-RTT registration): time || HMAC(server key, time, IP,
 * public key). Like QUIC's NEW_TOKEN, it proves the client received at this
 * IP (any port: NATs give new ports) within ADDRESS_TOKEN_LIFETIME.
 */
export function makeAddressToken(key: Uint8Array, nowMs: number, ip: string, publicKey: Uint8Array): Uint8Array {
  const ts = u64(nowMs);
  const out = new Uint8Array(ADDRESS_TOKEN_BYTES);
  out.set(ts, 0);
  out.set(mac(key, [framed("hole-punch address token v1", ts, ipToBytes(ip), publicKey)]), 8);
  return out;
}

export function checkAddressToken(key: Uint8Array, token: Uint8Array, nowMs: number, ip: string, publicKey: Uint8Array): boolean {
  if (token.length !== ADDRESS_TOKEN_BYTES) return false;
  const ts = Number(new DataView(token.buffer, token.byteOffset, 8).getBigUint64(0));
  if (ts > nowMs + 1000 || nowMs - ts > ADDRESS_TOKEN_LIFETIME) return false;
  return equalBytes(makeAddressToken(key, ts, ip, publicKey), token);
}

export function initiateAuth(secret: Uint8Array, init: Omit<HolePunchInitiate, "auth" | "$typeName" | "$unknown">): Uint8Array {
  const parts: Array<Uint8Array | string> = [
    "hole-punch initiate v1",
    init.token,
    init.peerName,
    init.peerKey,
    init.initiator ? "1" : "0",
    init.relay ? "1" : "0",
    String(init.peerMapping),
  ];
  for (const c of init.candidates) parts.push(c.address?.ip ?? new Uint8Array(), port2(c.address?.port ?? 0), String(c.kind));
  // Appended only when set (an odd part count cannot be mistaken for a candidate's three).
  if (init.peerPortStep) parts.push(`step ${init.peerPortStep}`);
  return mac(secret, [framed(...parts)]);
}
