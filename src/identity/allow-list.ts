// Allow list for privately run servers: only these names may register, each
// only with its key. The file is
//
//   # comment
//   <name> <base64url key>
//
// A malformed line or a name listed twice is an error with its line number:
// an access list that silently drops lines would be worse than none.
import { readFile } from "node:fs/promises";
import { IdentityError } from "./errors.ts";
import { parseNameKeyLines } from "./name-key-lines.ts";

/** Pure: name → 32-byte key. `source` names the text in error messages. */
export function parseAllowList(text: string, source = "allow list"): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const firstLine = new Map<string, number>();
  for (const { line, name, key } of parseNameKeyLines(text, "BAD_ALLOW_LIST", source)) {
    const prev = firstLine.get(name);
    if (prev !== undefined) throw new IdentityError("BAD_ALLOW_LIST", `${source} line ${line}: ${name} is already listed on line ${prev}`);
    firstLine.set(name, line);
    out.set(name, key);
  }
  return out;
}

/** Reads and parses `path`; a missing or unreadable file is an error (BAD_ALLOW_LIST), never "allow all". */
export async function loadAllowList(path: string): Promise<Map<string, Uint8Array>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new IdentityError("BAD_ALLOW_LIST", `cannot read allow list ${path}: ${(e as Error).message}`);
  }
  return parseAllowList(text, path);
}
