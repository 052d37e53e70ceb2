// The peer key exchange carried by punch probes and acks: each side makes an
// ephemeral X25519 key per attempt and signs it with its Ed25519 identity
// ("hole-punch probe v1" || token || ephemeral). Both derive the session
// keys with HKDF-SHA256 from the X25519 shared secret, salted with the
// attempt token; one key per direction, ordered by the ephemerals.
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { framed, hkdf, mac } from "./kdf.ts";

import { KEY_BYTES } from "../constants.ts";
export { KEY_BYTES };

export interface Ephemeral {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

export interface SessionKeys {
  /** AES-256-GCM keys of epoch 0, one per direction. */
  send: Uint8Array;
  recv: Uint8Array;
  /** HMAC keys for PunchAck proofs, one per direction (never used for AEAD). */
  ackSend: Uint8Array;
  ackRecv: Uint8Array;
}

export function newEphemeral(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  const x = publicKey.export({ format: "jwk" }).x!;
  return { publicKey: new Uint8Array(Buffer.from(x, "base64url")), privateKey };
}

/** The bytes an identity key signs to vouch for an ephemeral in attempt `token`. */
export function handshakeSigningInput(token: Uint8Array, ephemeral: Uint8Array): Uint8Array {
  return framed("hole-punch probe v1", token, ephemeral);
}

/** Session keys from our ephemeral and the peer's; undefined for a bad peer key. */
export function deriveSessionKeys(mine: Ephemeral, peerEphemeral: Uint8Array, token: Uint8Array): SessionKeys | undefined {
  if (peerEphemeral.length !== KEY_BYTES) return undefined;
  let shared: Uint8Array;
  try {
    const peer = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(peerEphemeral).toString("base64url") }, format: "jwk" });
    shared = new Uint8Array(diffieHellman({ privateKey: mine.privateKey, publicKey: peer }));
  } catch {
    return undefined; // not a valid point, or an all-zero (low-order) result
  }
  if (shared.every((b) => b === 0)) return undefined;
  const iAmLow = Buffer.compare(Buffer.from(mine.publicKey), Buffer.from(peerEphemeral)) < 0;
  const [lo, hi] = iAmLow ? [mine.publicKey, peerEphemeral] : [peerEphemeral, mine.publicKey];
  const okm = hkdf(shared, token, framed("hole-punch session v1", lo, hi), 4 * KEY_BYTES);
  const part = (i: number) => okm.slice(i * KEY_BYTES, (i + 1) * KEY_BYTES);
  const [loToHi, hiToLo, ackLoToHi, ackHiToLo] = [part(0), part(1), part(2), part(3)];
  return iAmLow
    ? { send: loToHi, recv: hiToLo, ackSend: ackLoToHi, ackRecv: ackHiToLo }
    : { send: hiToLo, recv: loToHi, ackSend: ackHiToLo, ackRecv: ackLoToHi };
}

/** Proof in a PunchAck that its sender holds the session (so it got our ephemeral). */
export function ackProof(senderKey: Uint8Array, seq: bigint): Uint8Array {
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, seq);
  return mac(senderKey, ["hole-punch ack v1", s]);
}
