// Small wrappers over node:crypto's HKDF and HMAC (SHA-256), and a
// constant-time comparison. No primitives of our own.
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

const enc = new TextEncoder();

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, bytes: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, typeof info === "string" ? enc.encode(info) : info, bytes));
}

/** HMAC-SHA256 over the concatenation of `parts`, truncated to `bytes`. */
export function mac(key: Uint8Array, parts: Array<Uint8Array | string>, bytes = 16): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(typeof p === "string" ? enc.encode(p) : p);
  return new Uint8Array(h.digest().subarray(0, bytes));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Length-prefixed concatenation (2-byte BE lengths): unambiguous input for MACs and signatures. */
export function framed(...parts: Array<Uint8Array | string>): Uint8Array {
  const bytes = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
  const out = new Uint8Array(bytes.reduce((n, b) => n + 2 + b.length, 0));
  let o = 0;
  for (const b of bytes) {
    out[o] = b.length >> 8;
    out[o + 1] = b.length & 0xff;
    out.set(b, o + 2);
    o += 2 + b.length;
  }
  return out;
}
