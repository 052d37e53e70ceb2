// A hash index over numbered slots, in two Int32Arrays: bucket -> first
// slot, and per slot the next slot of the same bucket (separate chaining).
// It stores no keys: the caller walks a chain with first()/after() and
// compares each slot's own columns, so an entry costs 4 bytes of link plus
// its share of the buckets (at most one bucket per slot: ~8 bytes in all,
// against ~60 for an entry of a JS Map measured on Bun).
//
// Hashes are seeded per process, so chains cannot be lengthened with names
// or ports chosen in advance.

export const NONE = -1;

/** Smallest power of two >= n (and >= 1). */
function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class SlotIndex {
  private buckets: Int32Array;
  private links: Int32Array;
  private mask: number;

  constructor(capacity: number) {
    this.buckets = new Int32Array(pow2AtLeast(capacity)).fill(NONE);
    this.links = new Int32Array(capacity).fill(NONE);
    this.mask = this.buckets.length - 1;
  }

  /** The first slot whose hash falls in `hash`'s bucket, or NONE. */
  first(hash: number): number {
    return this.buckets[hash & this.mask]!;
  }

  /** The slot after `slot` in its bucket's chain, or NONE. */
  after(slot: number): number {
    return this.links[slot]!;
  }

  insert(slot: number, hash: number): void {
    const b = hash & this.mask;
    this.links[slot] = this.buckets[b]!;
    this.buckets[b] = slot;
  }

  /** Unlinks `slot` (inserted with `hash`). */
  remove(slot: number, hash: number): void {
    this.relink(slot, this.links[slot]!, hash);
  }

  /** Puts `next` where `slot` was in its chain (same key, so same hash); `slot` leaves the index. */
  swap(slot: number, next: number, hash: number): void {
    this.links[next] = this.links[slot]!;
    this.relink(slot, next, hash);
  }

  /** Makes whatever pointed at `slot` point at `by`. */
  private relink(slot: number, by: number, hash: number): void {
    const b = hash & this.mask;
    let s = this.buckets[b]!;
    if (s === slot) {
      this.buckets[b] = by;
      return;
    }
    while (s !== NONE) {
      const n = this.links[s]!;
      if (n === slot) {
        this.links[s] = by;
        return;
      }
      s = n;
    }
    throw new Error(`slot ${slot} is not in the index`);
  }

  /** Room for `capacity` slots: rehashes every indexed slot with `hashOf`. */
  resize(capacity: number, hashOf: (slot: number) => number): void {
    const old = this.buckets;
    const oldLinks = this.links;
    this.buckets = new Int32Array(pow2AtLeast(capacity)).fill(NONE);
    this.links = new Int32Array(capacity).fill(NONE);
    this.mask = this.buckets.length - 1;
    for (let b = 0; b < old.length; b++) {
      for (let s = old[b]!; s !== NONE; s = oldLinks[s]!) this.insert(s, hashOf(s));
    }
  }
}

// ---- seeded 32-bit hashing (murmur3's finaliser, a multiply-xorshift per unit) ----

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function step(h: number, unit: number): number {
  h = Math.imul(h ^ unit, 0x5bd1e995);
  return h ^ (h >>> 15);
}

export function hashText(seed: number, s: string): number {
  let h = seed ^ s.length;
  for (let i = 0; i < s.length; i++) h = step(h, s.charCodeAt(i));
  return fmix(h);
}

/** Same as hashText over the string whose char codes are bytes[from, from + n). */
export function hashBytes(seed: number, bytes: Uint8Array, from: number, n: number): number {
  let h = seed ^ n;
  for (let i = from; i < from + n; i++) h = step(h, bytes[i]!);
  return fmix(h);
}

export function hashNumbers(seed: number, a: number, b: number): number {
  return fmix(step(step(seed, a), b));
}
