// Allow lists: a table of texts and what they parse to, or the line of the
// error. A missing file is an error, never "allow everyone".
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadAllowList, parseAllowList } from "../../src/identity/allow-list.ts";
import { generateIdentity, keyToText } from "../../src/identity/identity.ts";
import { identityError, useTempDirs } from "./support.ts";

const tempDir = useTempDirs();

const a = generateIdentity().id, b = generateIdentity().id;

describe("parseAllowList", () => {
  const ok: Array<{ name: string; text: string; want: Record<string, string> }> = [
    { name: "empty", text: "", want: {} },
    { name: "comments and blanks only", text: "# nobody\n\n   \n\t# still nobody\n", want: {} },
    { name: "two entries", text: `alice ${a}\nbob ${b}\n`, want: { alice: a, bob: b } },
    { name: "no trailing newline", text: `alice ${a}`, want: { alice: a } },
    { name: "tabs, spaces, CRLF", text: `\talice \t ${a}  \r\nbob ${b}\r\n`, want: { alice: a, bob: b } },
    { name: "one key, two names", text: `alice ${a}\nalice-laptop ${a}\n`, want: { alice: a, "alice-laptop": a } },
    { name: "name charset", text: `A.b_c-9 ${a}\n`, want: { "A.b_c-9": a } },
  ];
  for (const { name, text, want } of ok) {
    test(name, () => {
      const got = Object.fromEntries([...parseAllowList(text)].map(([n, k]) => [n, keyToText(k)]));
      expect(got).toEqual(want);
    });
  }

  const bad: Array<{ name: string; text: string; line: number }> = [
    { name: "name only", text: `alice\n`, line: 1 },
    { name: "key only", text: `# c\n${a}\n`, line: 2 },
    { name: "three fields", text: `alice ${a} # trailing comment\n`, line: 1 },
    { name: "bad key", text: `alice ${a}\nbob ${b}x\n`, line: 2 },
    { name: "standard base64 key", text: `alice ${Buffer.from(keyBytes(a)).toString("base64")}\n`, line: 1 },
    { name: "name too long", text: `${"n".repeat(33)} ${a}\n`, line: 1 },
    { name: "name with bad char", text: `al/ice ${a}\n`, line: 1 },
    { name: "duplicate name, same key", text: `alice ${a}\n\nalice ${a}\n`, line: 3 },
    { name: "duplicate name, other key", text: `alice ${a}\nbob ${b}\nalice ${b}\n`, line: 3 },
  ];
  for (const { name, text, line } of bad) {
    test(`rejects: ${name}`, async () => {
      const e = await identityError(() => parseAllowList(text, "allow.txt"), "BAD_ALLOW_LIST");
      expect(e.message).toStartWith(`allow.txt line ${line}:`);
    });
  }
});

describe("loadAllowList", () => {
  test("reads a file and names it in errors", async () => {
    const path = join(tempDir(), "allow");
    writeFileSync(path, `alice ${a}\n`);
    expect([...(await loadAllowList(path)).keys()]).toEqual(["alice"]);
    writeFileSync(path, `alice ${a}\nbob\n`);
    expect((await identityError(() => loadAllowList(path), "BAD_ALLOW_LIST")).message).toContain(`${path} line 2:`);
  });
  test("missing file is an error", async () => {
    await identityError(() => loadAllowList(join(tempDir(), "nope")), "BAD_ALLOW_LIST");
  });
});

function keyBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64url"));
}
