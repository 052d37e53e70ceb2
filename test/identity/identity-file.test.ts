// The identity file: created 0600 under 0700 dirs, loaded back to the same
// key, refused when others can read it or when it is corrupted, and never
// overwritten (not even by concurrent creators).
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { generateIdentity, keyToText, loadOrCreateIdentity, sign, verify, writeNewFile } from "../../src/identity/identity.ts";
import { identityError, modeOf, useTempDirs } from "./support.ts";

const tempDir = useTempDirs();

const data = new TextEncoder().encode("hello");

describe("create and load", () => {
  test("creates the file 0600 and missing parents 0700, then loads the same key", async () => {
    const root = tempDir();
    const path = join(root, "a", "b", "identity.json");
    const first = await loadOrCreateIdentity(path);
    expect(first.created).toBe(true);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(join(root, "a"))).toBe(0o700);
    expect(modeOf(join(root, "a", "b"))).toBe(0o700);
    expect(readdirSync(join(root, "a", "b"))).toEqual(["identity.json"]); // no temp file left

    const f = JSON.parse(readFileSync(path, "utf8"));
    expect(Object.keys(f).sort()).toEqual(["private", "public", "type", "version"]);
    expect(f).toMatchObject({ version: 1, type: "ed25519", public: first.identity.id });

    const again = await loadOrCreateIdentity(path);
    expect(again.created).toBe(false);
    expect(again.identity.id).toBe(first.identity.id);
    expect(again.identity.publicKey).toEqual(first.identity.publicKey);
    expect(verify(first.identity.publicKey, data, sign(again.identity, data))).toBe(true);
  });

  test("concurrent creators agree on one identity", async () => {
    const path = join(tempDir(), "identity.json");
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(path)));
    expect(all.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(all.map((r) => r.identity.id)).size).toBe(1);
    expect(JSON.parse(readFileSync(path, "utf8")).public).toBe(all[0]!.identity.id);
    expect(readdirSync(dirname(path))).toEqual(["identity.json"]); // every temp file removed
  });

  test("writeNewFile never replaces an existing file", async () => {
    const path = join(tempDir(), "f");
    writeFileSync(path, "mine", { mode: 0o600 });
    expect(await writeNewFile(path, "theirs")).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("mine");
  });
});

describe("refused", () => {
  // Any group/other bit refuses the file; owner-only modes load.
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o400, 0o700]) {
    const refused = (mode & 0o077) !== 0;
    test(`mode ${mode.toString(8)}: ${refused ? "INSECURE_PERMISSIONS" : "loads"}`, async () => {
      const path = join(tempDir(), "identity.json");
      const { identity } = await loadOrCreateIdentity(path);
      const before = readFileSync(path, "utf8");
      chmodSync(path, mode);
      if (refused) {
        const e = await identityError(() => loadOrCreateIdentity(path), "INSECURE_PERMISSIONS");
        expect(e.message).toContain(`chmod 600 ${path}`);
      } else {
        expect((await loadOrCreateIdentity(path)).identity.id).toBe(identity.id);
      }
      expect(readFileSync(path, "utf8")).toBe(before);
    });
  }

  const a = generateIdentity(), b = generateIdentity();
  const good = { version: 1, type: "ed25519", public: a.id, private: (a.privateKey.export({ format: "jwk" }) as { d: string }).d };
  const corrupt: Array<{ name: string; text: string }> = [
    { name: "empty", text: "" },
    { name: "not JSON", text: "ed25519 " + a.id },
    { name: "truncated", text: JSON.stringify(good).slice(0, 40) },
    { name: "JSON null", text: "null" },
    { name: "JSON array", text: "[]" },
    { name: "version 2", text: JSON.stringify({ ...good, version: 2 }) },
    { name: "type rsa", text: JSON.stringify({ ...good, type: "rsa" }) },
    { name: "public missing", text: JSON.stringify({ ...good, public: undefined }) },
    { name: "private missing", text: JSON.stringify({ ...good, private: undefined }) },
    { name: "public too short", text: JSON.stringify({ ...good, public: a.id.slice(1) }) },
    { name: "private not base64url", text: JSON.stringify({ ...good, private: "!".repeat(43) }) },
    { name: "public of another key", text: JSON.stringify({ ...good, public: b.id }) },
    { name: "private of another key", text: JSON.stringify({ ...good, private: (b.privateKey.export({ format: "jwk" }) as { d: string }).d }) },
  ];
  for (const { name, text } of corrupt) {
    test(`${name}: BAD_IDENTITY_FILE, file untouched`, async () => {
      const path = join(tempDir(), "identity.json");
      writeFileSync(path, text, { mode: 0o600 });
      const e = await identityError(() => loadOrCreateIdentity(path), "BAD_IDENTITY_FILE");
      expect(e.message).toContain(path);
      expect(e.message).not.toContain(good.private); // never echo the secret
      expect(readFileSync(path, "utf8")).toBe(text);
    });
  }

  test("a directory at the path: BAD_IDENTITY_FILE", async () => {
    const path = join(tempDir(), "identity.json");
    mkdirSync(path, { mode: 0o700 });
    await identityError(() => loadOrCreateIdentity(path), "BAD_IDENTITY_FILE");
  });

  test("the untampered file loads", async () => {
    const path = join(tempDir(), "identity.json");
    writeFileSync(path, JSON.stringify(good), { mode: 0o600 });
    expect(keyToText((await loadOrCreateIdentity(path)).identity.publicKey)).toBe(a.id);
  });
});
