// A set of integers kept as sorted, disjoint, non-touching half-open ranges
// [start, end). Used for acknowledged and lost stream bytes and for received
// packet numbers. Binary search; appending at the end is the cheap case.

export class IntervalSet {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  get isEmpty(): boolean {
    return this.starts.length === 0;
  }

  start(i: number): number {
    return this.starts[i] ?? 0;
  }

  end(i: number): number {
    return this.ends[i] ?? 0;
  }

  /** Smallest member, if any. */
  first(): number | undefined {
    return this.starts[0];
  }

  /** Largest member + 1, if any. */
  last(): number | undefined {
    return this.ends[this.ends.length - 1];
  }

  has(x: number): boolean {
    const i = this.firstEndAbove(x);
    return i < this.starts.length && this.starts[i]! <= x;
  }

  /** True if every integer in [a, b) is a member. */
  covers(a: number, b: number): boolean {
    if (a >= b) return true;
    const i = this.firstEndAbove(a);
    return i < this.starts.length && this.starts[i]! <= a && this.ends[i]! >= b;
  }

  /** Adds [a, b); returns how many integers were new. */
  add(a: number, b: number): number {
    if (a >= b) return 0;
    const n = this.starts.length;
    if (n === 0 || a > this.ends[n - 1]!) {
      this.starts.push(a);
      this.ends.push(b);
      return b - a;
    }
    const i = this.firstEndAtLeast(a); // first range touching or after a
    const j = this.firstStartAbove(b); // ranges i..j-1 merge with [a, b)
    let covered = 0;
    for (let k = i; k < j; k++) covered += Math.min(b, this.ends[k]!) - Math.max(a, this.starts[k]!);
    const s = i < j ? Math.min(a, this.starts[i]!) : a;
    const e = i < j ? Math.max(b, this.ends[j - 1]!) : b;
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
    return b - a - Math.max(0, covered);
  }

  /** Removes [a, b). */
  remove(a: number, b: number): void {
    if (a >= b || this.starts.length === 0) return;
    const i = this.firstEndAbove(a);
    let j = i;
    while (j < this.starts.length && this.starts[j]! < b) j++;
    if (i === j) return;
    const ns: number[] = [];
    const ne: number[] = [];
    if (this.starts[i]! < a) {
      ns.push(this.starts[i]!);
      ne.push(a);
    }
    if (this.ends[j - 1]! > b) {
      ns.push(b);
      ne.push(this.ends[j - 1]!);
    }
    this.starts.splice(i, j - i, ...ns);
    this.ends.splice(i, j - i, ...ne);
  }

  /** Drops the lowest range. */
  shift(): void {
    this.starts.shift();
    this.ends.shift();
  }

  /** Calls fn for each maximal sub-range of [a, b) that is NOT in the set. */
  forEachHole(a: number, b: number, fn: (s: number, e: number) => void): void {
    let at = a;
    for (let i = this.firstEndAbove(a); i < this.starts.length && at < b; i++) {
      const s = this.starts[i]!;
      if (s >= b) break;
      if (s > at) fn(at, s);
      at = Math.max(at, this.ends[i]!);
    }
    if (at < b) fn(at, b);
  }

  /** First index whose range ends after x (could contain x). */
  private firstEndAbove(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** First index whose range ends at or after x (contains or touches x). */
  private firstEndAtLeast(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! >= x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** First index whose range starts after x (cannot touch [.., x)). */
  private firstStartAbove(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
