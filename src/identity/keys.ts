// Ed25519 keys as this project shows and checks them, all from node:crypto
// (no primitives of our own). A public key travels as 32 raw bytes and is
// written as base64url without padding: exactly 43 characters, canonical
// (one text per key, so names bound to key text compare by string).
import { createHash, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { IdentityError } from "./errors.ts";

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Public KeyObjects kept for verify(); the least recently used is dropped beyond this. */
export const KEY_CACHE_MAX = 1024;

export interface Identity {
  /** 32 raw bytes. */
  publicKey: Uint8Array;
  privateKey: KeyObject;
  publicKeyObject: KeyObject;
  /** keyToText(publicKey). */
  id: string;
}

const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

export function keyToText(raw32: Uint8Array): string {
  if (raw32.length !== PUBLIC_KEY_BYTES) throw new IdentityError("BAD_KEY", `a key is ${PUBLIC_KEY_BYTES} bytes, got ${raw32.length}`);
  return Buffer.from(raw32.buffer, raw32.byteOffset, raw32.byteLength).toString("base64url");
}

/** Parses exactly 43 characters of canonical base64url (no padding, no prefix, no whitespace). */
export function keyFromText(s: string): Uint8Array {
  if (typeof s !== "string" || !KEY_TEXT.test(s)) {
    throw new IdentityError("BAD_KEY", "not a key: want 43 base64url characters (32 bytes)");
  }
  const raw = Buffer.from(s, "base64url");
  // 43 characters carry 258 bits: reject texts whose 2 spare bits are set.
  if (raw.length !== PUBLIC_KEY_BYTES || raw.toString("base64url") !== s) {
    throw new IdentityError("BAD_KEY", "not a key: non-canonical base64url");
  }
  return new Uint8Array(raw);
}

/** Short form for logs: "SHA256:" + base64url of the first 16 bytes of SHA-256(key). */
export function fingerprint(raw32: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(raw32).digest().subarray(0, 16).toString("base64url");
}

export function publicKeyObject(raw32: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: keyToText(raw32) }, format: "jwk" });
}

/** Builds an Identity from a private KeyObject (its public half is derived, never trusted). */
export function identityFromPrivateKey(privateKey: KeyObject): Identity {
  const pub = createPublicKey(privateKey);
  const x = (pub.export({ format: "jwk" }) as { x?: string }).x ?? "";
  const publicKey = keyFromText(x);
  return { publicKey, privateKey, publicKeyObject: pub, id: x };
}

export function generateIdentity(): Identity {
  return identityFromPrivateKey(generateKeyPairSync("ed25519").privateKey);
}

export function sign(id: Identity, data: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, data, id.privateKey));
}

/** True only for a valid signature by `pub` over `data`. Never throws. */
export function verify(pub: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || !(data instanceof Uint8Array) || !(sig instanceof Uint8Array)) return false;
  if (pub.length !== PUBLIC_KEY_BYTES || sig.length !== SIGNATURE_BYTES) return false;
  try {
    return edVerify(null, data, cachedPublicKey(pub), sig);
  } catch {
    return false;
  }
}

const keyCache = new Map<string, KeyObject>();

function cachedPublicKey(raw32: Uint8Array): KeyObject {
  const k = keyToText(raw32);
  let o = keyCache.get(k);
  if (o) {
    keyCache.delete(k); // move to the most recently used end
  } else {
    o = publicKeyObject(raw32);
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  }
  keyCache.set(k, o);
  return o;
}

/** Number of public KeyObjects cached by verify() (for tests and metrics). */
export function publicKeyCacheSize(): number {
  return keyCache.size;
}
