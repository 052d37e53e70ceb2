// Seals and opens the frames of one peer session. Each direction has its own
// key; a sender moves to the next epoch (key = HKDF(previous key)) after
// REKEY_AFTER_PACKETS packets or REKEY_AFTER of time, and forgets the old
// key, so a later key compromise does not expose earlier epochs. The receiver
// follows up to MAX_EPOCH_SKIP epochs ahead and keeps one previous epoch for
// packets reordered across a rekey. Each epoch has its own replay window.
import { REKEY_AFTER, REKEY_AFTER_PACKETS } from "../constants.ts";
import { nonceFor, open, seal } from "./aead.ts";
import { hkdf } from "./kdf.ts";
import { ReplayWindow } from "./replay-window.ts";

const MAX_EPOCH_SKIP = 3;

function nextKey(key: Uint8Array): Uint8Array {
  return hkdf(key, new Uint8Array(), "hole-punch rekey v1", key.length);
}

interface RecvEpoch {
  epoch: number;
  key: Uint8Array;
  window: ReplayWindow;
}

export interface SealedFrame {
  epoch: number;
  counter: bigint;
  ciphertext: Uint8Array;
}

export class SessionCipher {
  private sendKey: Uint8Array;
  private sendEpoch = 0;
  private sendCounter = 0n;
  private epochStartedAt: number;
  private current: RecvEpoch;
  private previous: RecvEpoch | undefined;

  constructor(
    keys: { send: Uint8Array; recv: Uint8Array },
    /** Bound into every frame's associated data (prefix || token). */
    private readonly context: Uint8Array,
    private readonly now: () => number,
    private readonly limits = { packets: REKEY_AFTER_PACKETS, ms: REKEY_AFTER },
  ) {
    this.sendKey = keys.send;
    this.current = { epoch: 0, key: keys.recv, window: new ReplayWindow() };
    this.epochStartedAt = now();
  }

  get epoch(): number {
    return this.sendEpoch;
  }

  seal(plaintext: Uint8Array): SealedFrame {
    if (this.sendCounter >= BigInt(this.limits.packets) || this.now() - this.epochStartedAt >= this.limits.ms) {
      this.sendKey = nextKey(this.sendKey);
      this.sendEpoch++;
      this.sendCounter = 0n;
      this.epochStartedAt = this.now();
    }
    const counter = this.sendCounter++;
    const nonce = nonceFor(this.sendEpoch, counter);
    return { epoch: this.sendEpoch, counter, ciphertext: seal(this.sendKey, nonce, this.aad(nonce), plaintext) };
  }

  /** The plaintext, or undefined for a forged, tampered, replayed or too-old frame. */
  open(f: SealedFrame): Uint8Array | undefined {
    const nonce = nonceFor(f.epoch, f.counter);
    const aad = this.aad(nonce);
    if (f.epoch === this.current.epoch || f.epoch === this.previous?.epoch) {
      const e = f.epoch === this.current.epoch ? this.current : this.previous!;
      if (!e.window.check(f.counter)) return undefined;
      const pt = open(e.key, nonce, aad, f.ciphertext);
      if (pt) e.window.commit(f.counter);
      return pt;
    }
    const ahead = f.epoch - this.current.epoch;
    if (ahead < 1 || ahead > MAX_EPOCH_SKIP) return undefined;
    let key = this.current.key;
    for (let i = 0; i < ahead; i++) key = nextKey(key);
    const pt = open(key, nonce, aad, f.ciphertext);
    if (!pt) return undefined;
    // Authenticated: move forward, keep one epoch back for stragglers.
    this.previous = ahead === 1 ? this.current : undefined;
    this.current = { epoch: f.epoch, key, window: new ReplayWindow() };
    this.current.window.commit(f.counter);
    return pt;
  }

  private aad(nonce: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.context.length + nonce.length);
    out.set(this.context, 0);
    out.set(nonce, this.context.length);
    return out;
  }
}
