// Key text, fingerprints, sign/verify and the verify key cache: known values
// in tables, RFC 8032 vector 1 as literal bytes, and no throw on bad input.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  fingerprint, generateIdentity, KEY_CACHE_MAX, keyFromText, keyToText, parseIdentityFile,
  publicKeyCacheSize, sign, verify, defaultIdentityPath, defaultKnownPeersPath,
} from "../../src/identity/identity.ts";
import { identityError } from "./support.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const A43 = "A".repeat(43);

describe("key text", () => {
  const roundTrips = [
    { name: "zeros", raw: new Uint8Array(32), text: A43 },
    { name: "0..31", raw: Uint8Array.from({ length: 32 }, (_, i) => i), text: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" },
    { name: "0xff", raw: new Uint8Array(32).fill(0xff), text: "_".repeat(42) + "8" },
  ];
  for (const { name, raw, text } of roundTrips) {
    test(`round trip: ${name}`, () => {
      expect(keyToText(raw)).toBe(text);
      expect(keyFromText(text)).toEqual(raw);
    });
  }
  test("round trip: random", () => {
    for (let i = 0; i < 200; i++) {
      const raw = new Uint8Array(randomBytes(32));
      expect(keyFromText(keyToText(raw))).toEqual(raw);
      expect(keyToText(raw)).toHaveLength(43);
    }
  });

  const rejects: Array<{ name: string; text: unknown }> = [
    { name: "empty", text: "" },
    { name: "42 chars", text: "A".repeat(42) },
    { name: "44 chars", text: "A".repeat(44) },
    { name: "padded", text: A43 + "=" },
    { name: "standard base64 +", text: "+" + "A".repeat(42) },
    { name: "standard base64 /", text: "/" + "A".repeat(42) },
    { name: "whitespace", text: " " + A43 },
    { name: "trailing newline", text: A43 + "\n" },
    { name: "non-canonical spare bits", text: "A".repeat(42) + "B" },
    { name: "hp1: prefix", text: "hp1:" + A43 },
    { name: "not a string", text: 42 },
  ];
  for (const { name, text } of rejects) {
    test(`rejects: ${name}`, () => identityError(() => keyFromText(text as string), "BAD_KEY"));
  }
  test("keyToText rejects wrong lengths", async () => {
    for (const n of [0, 31, 33, 64]) await identityError(() => keyToText(new Uint8Array(n)), "BAD_KEY");
  });
});

test("fingerprint: known value, short, distinct", () => {
  expect(fingerprint(new Uint8Array(32))).toBe("SHA256:Zmh6rfhivXdsj8GLjp-OIA");
  const a = generateIdentity(), b = generateIdentity();
  expect(fingerprint(a.publicKey)).toHaveLength(7 + 22);
  expect(fingerprint(a.publicKey)).not.toBe(fingerprint(b.publicKey));
});

describe("sign and verify", () => {
  test("RFC 8032 test vector 1", () => {
    const id = parseIdentityFile(JSON.stringify({
      version: 1, type: "ed25519",
      public: keyToText(hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")),
      private: keyToText(hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")),
    }), "vector");
    const sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    expect(sign(id, new Uint8Array(0))).toEqual(sig);
    expect(verify(id.publicKey, new Uint8Array(0), sig)).toBe(true);
  });

  const me = generateIdentity(), other = generateIdentity();
  const data = new TextEncoder().encode("register alice");
  const sig = sign(me, data);
  const flip = (b: Uint8Array, i: number) => { const c = new Uint8Array(b); c[i]! ^= 1; return c; };
  const cases: Array<{ name: string; pub: unknown; data: unknown; sig: unknown; ok: boolean }> = [
    { name: "valid", pub: me.publicKey, data, sig, ok: true },
    { name: "tampered data", pub: me.publicKey, data: flip(data, 0), sig, ok: false },
    { name: "extra data byte", pub: me.publicKey, data: new Uint8Array([...data, 0]), sig, ok: false },
    { name: "tampered signature", pub: me.publicKey, data, sig: flip(sig, 10), ok: false },
    { name: "wrong key", pub: other.publicKey, data, sig, ok: false },
    { name: "empty signature", pub: me.publicKey, data, sig: new Uint8Array(0), ok: false },
    { name: "63-byte signature", pub: me.publicKey, data, sig: sig.subarray(0, 63), ok: false },
    { name: "65-byte signature", pub: me.publicKey, data, sig: new Uint8Array([...sig, 0]), ok: false },
    { name: "31-byte key", pub: me.publicKey.subarray(0, 31), data, sig, ok: false },
    { name: "33-byte key", pub: new Uint8Array([...me.publicKey, 0]), data, sig, ok: false },
    { name: "empty key", pub: new Uint8Array(0), data, sig, ok: false },
    { name: "key not on the curve", pub: new Uint8Array(32).fill(0xff), data, sig, ok: false },
    { name: "key is a string", pub: me.id, data, sig, ok: false },
    { name: "data is undefined", pub: me.publicKey, data: undefined, sig, ok: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      expect(() => verify(c.pub as Uint8Array, c.data as Uint8Array, c.sig as Uint8Array)).not.toThrow();
      expect(verify(c.pub as Uint8Array, c.data as Uint8Array, c.sig as Uint8Array)).toBe(c.ok);
    });
  }

  test("signature is 64 bytes, id is the key text", () => {
    expect(sig).toHaveLength(64);
    expect(me.publicKey).toHaveLength(32);
    expect(me.id).toBe(keyToText(me.publicKey));
  });

  test("the key cache is bounded", () => {
    for (let i = 0; i < KEY_CACHE_MAX + 50; i++) verify(new Uint8Array(randomBytes(32)), data, sig);
    expect(publicKeyCacheSize()).toBe(KEY_CACHE_MAX);
    expect(verify(me.publicKey, data, sig)).toBe(true); // still right after evictions
  });
});

describe("default paths", () => {
  const cases = [
    { name: "XDG_CONFIG_HOME", env: { XDG_CONFIG_HOME: "/x/cfg", HOME: "/home/u" }, dir: "/x/cfg/hole-punch" },
    { name: "relative XDG ignored", env: { XDG_CONFIG_HOME: "cfg", HOME: "/home/u" }, dir: "/home/u/.config/hole-punch" },
    { name: "empty XDG ignored", env: { XDG_CONFIG_HOME: "", HOME: "/home/u" }, dir: "/home/u/.config/hole-punch" },
    { name: "HOME only", env: { HOME: "/home/u" }, dir: "/home/u/.config/hole-punch" },
  ];
  for (const { name, env, dir } of cases) {
    test(name, () => {
      expect(defaultIdentityPath(env)).toBe(`${dir}/identity.json`);
      expect(defaultKnownPeersPath(env)).toBe(`${dir}/known_peers`);
    });
  }
});
