// AES-256-GCM from node:crypto (OpenSSL/BoringSSL): seal and open one frame.
// nonce = epoch (4 bytes BE) || counter (8 bytes BE). Each direction of a
// session has its own key, so a (key, nonce) pair is never reused.
import { createCipheriv, createDecipheriv } from "node:crypto";

export const TAG_BYTES = 16;

export function nonceFor(epoch: number, counter: bigint): Uint8Array {
  const n = new Uint8Array(12);
  const dv = new DataView(n.buffer);
  dv.setUint32(0, epoch);
  dv.setBigUint64(4, counter);
  return n;
}

export function seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(aad);
  const head = c.update(plaintext);
  const tail = c.final();
  const out = new Uint8Array(head.length + tail.length + TAG_BYTES);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(c.getAuthTag(), head.length + tail.length);
  return out;
}

/** Returns the plaintext, or undefined if the frame does not authenticate. Never throws. */
export function open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, nonce);
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const head = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    const tail = d.final();
    return tail.length ? new Uint8Array(Buffer.concat([head, tail])) : new Uint8Array(head);
  } catch {
    return undefined;
  }
}
