// Parser shared by known_peers and the allow list: text files of
//
//   # comment
//   <name> <base64url Ed25519 public key>
//
// Blank lines and lines starting with '#' are skipped. Anything else that is
// not exactly a valid name and a valid key is an error naming its line, never
// silently ignored. Pure: text in, entries out.
import { NAME_PATTERN } from "../constants.ts";
import { IdentityError, type IdentityErrorCode } from "./errors.ts";
import { keyFromText } from "./keys.ts";

export interface NameKeyLine {
  /** 1-based line number in the source text. */
  line: number;
  name: string;
  key: Uint8Array;
}

export function parseNameKeyLines(text: string, code: IdentityErrorCode, source: string): NameKeyLine[] {
  const out: NameKeyLine[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${source} line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new IdentityError(code, `${where}: expected "<name> <key>", got ${fields.length} field(s)`);
    const [name, keyText] = fields as [string, string];
    if (!NAME_PATTERN.test(name)) throw new IdentityError(code, `${where}: invalid name ${JSON.stringify(name.slice(0, 40))}`);
    let key: Uint8Array;
    try {
      key = keyFromText(keyText);
    } catch {
      throw new IdentityError(code, `${where}: invalid key for ${name} (want 43 characters of base64url)`);
    }
    out.push({ line: i + 1, name, key });
  }
  return out;
}

/** Format one line of such a file (with its trailing newline). */
export function formatNameKeyLine(name: string, keyText: string): string {
  return `${name} ${keyText}\n`;
}
