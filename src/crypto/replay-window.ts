// Anti-replay sliding window over 64-bit packet counters (RFC 6479 style,
// as IPsec and WireGuard do): accept each counter once, reject counters that
// fell behind the window. Check first, then commit only after the packet
// authenticated, so forged packets cannot move the window.

export const REPLAY_WINDOW = 2048;

export class ReplayWindow {
  private highest = -1n;
  private readonly bits = new Uint32Array(REPLAY_WINDOW / 32);

  /** True if `counter` is new and inside (or ahead of) the window. */
  check(counter: bigint): boolean {
    if (counter > this.highest) return true;
    if (this.highest - counter >= BigInt(REPLAY_WINDOW)) return false;
    const i = Number(counter % BigInt(REPLAY_WINDOW));
    return (this.bits[i >>> 5]! & (1 << (i & 31))) === 0;
  }

  /** Marks `counter` as seen (call after check() and authentication). */
  commit(counter: bigint): void {
    if (counter > this.highest) {
      const advance = counter - this.highest;
      if (advance >= BigInt(REPLAY_WINDOW)) this.bits.fill(0);
      else for (let c = this.highest + 1n; c <= counter; c++) this.clear(c);
      this.highest = counter;
    }
    const i = Number(counter % BigInt(REPLAY_WINDOW));
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  private clear(c: bigint): void {
    const i = Number(c % BigInt(REPLAY_WINDOW));
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }
}
