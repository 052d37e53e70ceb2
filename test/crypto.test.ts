// The crypto building blocks: cookies, the replay window, the session cipher
// (rekey, epoch skip, the previous epoch for stragglers), the handshake.
import { describe, expect, test } from "bun:test";
import { COOKIE_LIFETIME } from "../src/constants.ts";
import { ackProof, deriveSessionKeys, newEphemeral } from "../src/crypto/handshake.ts";
import { REPLAY_WINDOW, ReplayWindow } from "../src/crypto/replay-window.ts";
import { checkCookie, makeCookie } from "../src/crypto/server-auth.ts";
import { SessionCipher } from "../src/crypto/session-cipher.ts";

describe("cookie", () => {
  const key = new Uint8Array(32).fill(9);
  const pub = new Uint8Array(32).fill(1);
  const from = { ip: "198.18.0.7", port: 4000 };
  const t = 1_000_000;
  const cookie = makeCookie(key, t, from, pub);
  const table: Array<[string, boolean, () => boolean]> = [
    ["valid at once", true, () => checkCookie(key, cookie, t, from, pub)],
    ["valid at the end of its lifetime", true, () => checkCookie(key, cookie, t + COOKIE_LIFETIME, from, pub)],
    ["expired", false, () => checkCookie(key, cookie, t + COOKIE_LIFETIME + 1, from, pub)],
    ["from the future", false, () => checkCookie(key, cookie, t - 5000, from, pub)],
    ["another port", false, () => checkCookie(key, cookie, t, { ...from, port: 4001 }, pub)],
    ["another address", false, () => checkCookie(key, cookie, t, { ...from, ip: "198.18.0.8" }, pub)],
    ["another key", false, () => checkCookie(key, cookie, t, from, new Uint8Array(32).fill(2))],
    ["another server secret", false, () => checkCookie(new Uint8Array(32), cookie, t, from, pub)],
    ["a flipped bit", false, () => checkCookie(key, cookie.map((b, i) => (i === 10 ? b ^ 1 : b)), t, from, pub)],
    ["too short", false, () => checkCookie(key, cookie.subarray(0, 23), t, from, pub)],
  ];
  for (const [name, want, run] of table) test(name, () => expect(run()).toBe(want));
});

describe("replay window", () => {
  test("each counter once; reordering inside the window is fine; too old is refused", () => {
    const w = new ReplayWindow();
    const accept = (c: bigint) => {
      const ok = w.check(c);
      if (ok) w.commit(c);
      return ok;
    };
    expect([0n, 2n, 1n, 2n, 1n].map(accept)).toEqual([true, true, true, false, false]);
    expect(accept(5000n)).toBe(true);
    expect(accept(5000n - BigInt(REPLAY_WINDOW) + 1n)).toBe(true); // oldest still inside
    expect(accept(5000n - BigInt(REPLAY_WINDOW))).toBe(false); // just behind the window
    expect(accept(4999n)).toBe(true);
    expect(accept(4999n)).toBe(false);
  });
  test("a big jump clears the window", () => {
    const w = new ReplayWindow();
    for (let c = 0n; c < 100n; c++) w.commit(c);
    w.commit(100_000n);
    expect(w.check(100_000n - 5n)).toBe(true);
    expect(w.check(50n)).toBe(false);
  });
});

describe("session cipher", () => {
  const keys = () => {
    const a = newEphemeral();
    const b = newEphemeral();
    const token = new Uint8Array(16).fill(3);
    return [deriveSessionKeys(a, b.publicKey, token)!, deriveSessionKeys(b, a.publicKey, token)!] as const;
  };

  test("both sides derive matching directional keys; the ack keys are separate", () => {
    const [ka, kb] = keys();
    expect(ka.send).toEqual(kb.recv);
    expect(ka.recv).toEqual(kb.send);
    expect(ka.ackSend).toEqual(kb.ackRecv);
    expect(ka.send).not.toEqual(ka.recv);
    expect(ka.ackSend).not.toEqual(ka.send);
    expect(ackProof(ka.ackSend, 7n)).toEqual(ackProof(kb.ackRecv, 7n));
  });

  test("rejects a low-order or malformed peer ephemeral", () => {
    expect(deriveSessionKeys(newEphemeral(), new Uint8Array(32), new Uint8Array(16))).toBeUndefined();
    expect(deriveSessionKeys(newEphemeral(), new Uint8Array(31), new Uint8Array(16))).toBeUndefined();
  });

  test("rekeys every N packets; the receiver follows, skips up to 3 epochs, keeps one back", () => {
    const [ka, kb] = keys();
    const ctx = new Uint8Array(20);
    const limits = { packets: 4, ms: 1e9 };
    const a = new SessionCipher(ka, ctx, () => 0, limits);
    const b = new SessionCipher(kb, ctx, () => 0, limits);
    const frames = Array.from({ length: 30 }, (_, i) => a.seal(Uint8Array.of(i)));
    expect(frames.map((f) => f.epoch)).toEqual(Array.from({ length: 30 }, (_, i) => Math.floor(i / 4)));
    const open = (i: number) => b.open(frames[i]!)?.[0];
    expect(open(0)).toBe(0);
    expect(open(13)).toBe(13); // epoch 3: three ahead
    expect(open(5)).toBeUndefined(); // after a skip, the skipped epochs are gone
    expect(open(12)).toBe(12); // epoch 3, an earlier counter: reordering within the epoch is fine
    expect(open(16)).toBe(16); // epoch 4: one ahead
  });

  test("a frame from the previous epoch still opens; replays and forgeries do not", () => {
    const [ka, kb] = keys();
    const ctx = new Uint8Array(20);
    const limits = { packets: 4, ms: 1e9 };
    const a = new SessionCipher(ka, ctx, () => 0, limits);
    const b = new SessionCipher(kb, ctx, () => 0, limits);
    const frames = Array.from({ length: 10 }, (_, i) => a.seal(Uint8Array.of(i)));
    expect(b.open(frames[4]!)?.[0]).toBe(4); // epoch 1 arrives first
    expect(b.open(frames[3]!)?.[0]).toBe(3); // a straggler from epoch 0
    expect(b.open(frames[3]!)).toBeUndefined(); // replayed
    expect(b.open(frames[9]!)?.[0]).toBe(9); // epoch 2: now epoch 0 is too old
    expect(b.open(frames[2]!)).toBeUndefined();
    expect(b.open(frames[5]!)?.[0]).toBe(5); // epoch 1 is the previous one now
    const forged = { ...frames[6]!, ciphertext: frames[6]!.ciphertext.map((x, i) => (i === 0 ? x ^ 1 : x)) };
    expect(b.open(forged)).toBeUndefined();
    expect(b.open({ ...frames[7]!, epoch: 9 })).toBeUndefined(); // too far ahead
  });

  test("rekeys after a time limit too", () => {
    const [ka, kb] = keys();
    let now = 0;
    const a = new SessionCipher(ka, new Uint8Array(), () => now, { packets: 1e9, ms: 1000 });
    const b = new SessionCipher(kb, new Uint8Array(), () => now, { packets: 1e9, ms: 1000 });
    expect(a.seal(new Uint8Array(1)).epoch).toBe(0);
    now = 1000;
    const f = a.seal(Uint8Array.of(42));
    expect(f.epoch).toBe(1);
    expect(b.open(f)?.[0]).toBe(42);
  });
});
