// Small applications for the transport tests: deterministic payloads, a
// writer that honours backpressure, a reader that hashes what it gets.
import { createHash } from "node:crypto";
import type { Stream } from "../../src/transport/index.ts";

/** n bytes from a seeded xorshift32: fast and non-repeating enough to catch misordering. */
export function payload(n: number, seed = 1): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, n);
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes everything in `chunk`-sized pieces, waiting whenever write() says the buffer is full, then ends. */
export async function writeAll(s: Stream, data: Uint8Array, chunk = 64 * 1024, end = true): Promise<void> {
  for (let o = 0; o < data.length; o += chunk) {
    if (!s.write(data.subarray(o, o + chunk))) await s.writable();
  }
  if (end) s.end();
}

export interface ReadResult {
  bytes: number;
  sha256: string;
  /** The FIN arrived (the iteration ended normally). */
  fin: boolean;
  error?: unknown;
}

/** Reads to the end, hashing; never rejects (an error is returned). */
export async function readAll(s: Stream, onChunk?: (c: Uint8Array) => void | Promise<void>): Promise<ReadResult> {
  const h = createHash("sha256");
  let bytes = 0;
  try {
    for await (const c of s) {
      h.update(c);
      bytes += c.length;
      if (onChunk) await onChunk(c);
    }
    return { bytes, sha256: h.digest("hex"), fin: true };
  } catch (error) {
    return { bytes, sha256: h.digest("hex"), fin: false, error };
  }
}
