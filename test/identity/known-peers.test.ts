// known_peers: trust on first use. new → remember → known; another key is
// "changed"; appends survive a reload; malformed lines report their number.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateIdentity } from "../../src/identity/identity.ts";
import { KnownPeers } from "../../src/identity/known-peers.ts";
import { identityError, modeOf, useTempDirs } from "./support.ts";

const tempDir = useTempDirs();

const alice = generateIdentity(), bob = generateIdentity(), mallory = generateIdentity();

describe("trust on first use", () => {
  test("missing file is empty; remember creates 0600 in a 0700 dir; reload agrees", async () => {
    const dir = join(tempDir(), "cfg");
    const path = join(dir, "known_peers");
    const kp = await KnownPeers.load(path);
    expect(kp.size).toBe(0);
    expect(kp.check("alice", alice.publicKey)).toBe("new");
    expect(kp.expected("alice")).toBeUndefined();

    await kp.remember("alice", alice.publicKey);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(dir)).toBe(0o700);
    expect(kp.check("alice", alice.publicKey)).toBe("known");
    expect(kp.check("alice", mallory.publicKey)).toBe("changed");
    expect(kp.expected("alice")).toEqual(alice.publicKey);

    await kp.remember("bob", bob.publicKey);
    expect(readFileSync(path, "utf8")).toBe(`alice ${alice.id}\nbob ${bob.id}\n`);

    const reloaded = await KnownPeers.load(path);
    expect(reloaded.check("alice", alice.publicKey)).toBe("known");
    expect(reloaded.check("bob", bob.publicKey)).toBe("known");
    expect(reloaded.check("bob", alice.publicKey)).toBe("changed");
    expect(reloaded.check("carol", alice.publicKey)).toBe("new");
  });

  test("remember appends and never rewrites other lines", async () => {
    const path = join(tempDir(), "known_peers");
    const original = `# my peers\n\n  alice   ${alice.id}  \n# end, no newline`;
    writeFileSync(path, original);
    const kp = await KnownPeers.load(path);
    expect(kp.check("alice", alice.publicKey)).toBe("known");
    await kp.remember("bob", bob.publicKey);
    expect(readFileSync(path, "utf8")).toBe(`${original}\nbob ${bob.id}\n`);
  });

  test("remembering a known key is a no-op; a changed key is refused", async () => {
    const path = join(tempDir(), "known_peers");
    const kp = await KnownPeers.load(path);
    await kp.remember("alice", alice.publicKey);
    await kp.remember("alice", alice.publicKey);
    const e = await identityError(() => kp.remember("alice", mallory.publicKey), "BAD_KNOWN_PEERS");
    expect(e.message).toContain("alice");
    expect(readFileSync(path, "utf8")).toBe(`alice ${alice.id}\n`);

    const e2 = await identityError(async () => (await KnownPeers.load(path)).remember("alice", mallory.publicKey), "BAD_KNOWN_PEERS");
    expect(e2.message).toContain(`line 1 of ${path}`);
  });

  test("concurrent remembers of one name write one line", async () => {
    const path = join(tempDir(), "known_peers");
    const kp = await KnownPeers.load(path);
    await Promise.all([1, 2, 3].map(() => kp.remember("alice", alice.publicKey)));
    expect(readFileSync(path, "utf8")).toBe(`alice ${alice.id}\n`);
  });

  test("bad arguments to remember", async () => {
    const kp = await KnownPeers.load(join(tempDir(), "known_peers"));
    await identityError(() => kp.remember("alice", alice.publicKey.subarray(0, 31)), "BAD_KEY");
    await identityError(() => kp.remember("has space", alice.publicKey), "BAD_KNOWN_PEERS");
    await identityError(() => kp.remember("", alice.publicKey), "BAD_KNOWN_PEERS");
    expect(kp.size).toBe(0);
  });
});

describe("malformed files report the line", () => {
  const cases = [
    { name: "name only", text: `# c\nalice ${alice.id}\nbob\n`, line: 3 },
    { name: "three fields", text: `alice ${alice.id} extra\n`, line: 1 },
    { name: "bad key", text: `\n\nalice ${alice.id.slice(2)}\n`, line: 3 },
    { name: "bad name", text: `alice ${alice.id}\n-alice ${bob.id}\n`, line: 2 },
    { name: "one name, two keys", text: `alice ${alice.id}\nbob ${bob.id}\nalice ${mallory.id}\n`, line: 3 },
    { name: "CRLF line endings", text: `alice ${alice.id}\r\nbob\r\n`, line: 2 },
  ];
  for (const { name, text, line } of cases) {
    test(name, async () => {
      const path = join(tempDir(), "known_peers");
      writeFileSync(path, text);
      const e = await identityError(() => KnownPeers.load(path), "BAD_KNOWN_PEERS");
      expect(e.message).toContain(`${path} line ${line}:`);
    });
  }

  test("a repeated identical line is fine", () => {
    const kp = KnownPeers.parse(`alice ${alice.id}\nalice ${alice.id}\n`, "x");
    expect(kp.size).toBe(1);
    expect(kp.check("alice", alice.publicKey)).toBe("known");
  });
});
