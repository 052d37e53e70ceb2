// Trust on first use, like SSH's known_hosts: the first key seen for a name
// is remembered; later the same key is "known" and a different one is
// "changed" (refuse, and tell the user which line to remove). The file is
//
//   # comment
//   <name> <base64url key>
//
// Malformed lines are errors with their line number. remember() only ever
// appends (file 0600, dir 0700 when created); other lines are never rewritten.
import { appendFile, mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { NAME_PATTERN } from "../constants.ts";
import { IdentityError } from "./errors.ts";
import { keyToText } from "./keys.ts";
import { formatNameKeyLine, parseNameKeyLines } from "./name-key-lines.ts";

export type PeerStatus =
  | "known" // the name is listed with this key
  | "new" // the name is not listed
  | "changed"; // the name is listed with a different key: possible impersonation

interface Entry {
  key: Uint8Array;
  text: string;
  /** Line in the file, or 0 if added by remember() in this process. */
  line: number;
}

export class KnownPeers {
  private constructor(
    readonly path: string,
    private readonly entries: Map<string, Entry>,
  ) {}

  /** Loads `path`; a missing file is an empty list. */
  static async load(path: string): Promise<KnownPeers> {
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new IdentityError("BAD_KNOWN_PEERS", `cannot read known peers file ${path}: ${(e as Error).message}`);
      }
    }
    return KnownPeers.parse(text, path);
  }

  /** Pure: builds the list from file text. Repeats of a line are fine; a name with two keys is an error. */
  static parse(text: string, path: string): KnownPeers {
    const entries = new Map<string, Entry>();
    for (const { line, name, key } of parseNameKeyLines(text, "BAD_KNOWN_PEERS", path)) {
      const e: Entry = { key, text: keyToText(key), line };
      const prev = entries.get(name);
      if (prev && prev.text !== e.text) {
        throw new IdentityError("BAD_KNOWN_PEERS", `${path} line ${line}: ${name} already has a different key on line ${prev.line}`);
      }
      if (!prev) entries.set(name, e);
    }
    return new KnownPeers(path, entries);
  }

  get size(): number {
    return this.entries.size;
  }

  check(name: string, key: Uint8Array): PeerStatus {
    const e = this.entries.get(name);
    if (!e) return "new";
    return key.length === e.key.length && keyToText(key) === e.text ? "known" : "changed";
  }

  expected(name: string): Uint8Array | undefined {
    const e = this.entries.get(name);
    return e && new Uint8Array(e.key);
  }

  /**
   * Records `key` for a new `name` by appending one line. A no-op if already
   * known; refuses (BAD_KNOWN_PEERS) if the name has a different key, since
   * replacing a key is the user's decision, made by editing the file.
   */
  async remember(name: string, key: Uint8Array): Promise<void> {
    if (!NAME_PATTERN.test(name)) throw new IdentityError("BAD_KNOWN_PEERS", `cannot remember invalid name ${JSON.stringify(name.slice(0, 40))}`);
    const text = keyToText(key); // BAD_KEY unless 32 bytes
    const status = this.check(name, key);
    if (status === "known") return;
    if (status === "changed") {
      const at = this.entries.get(name)!.line;
      const where = at > 0 ? `line ${at} of ${this.path}` : this.path;
      throw new IdentityError("BAD_KNOWN_PEERS", `${name} already has a different key in ${where}; remove that line to trust the new key`);
    }
    // Claim the name before any await, so concurrent calls see it.
    const entry: Entry = { key: new Uint8Array(key), text, line: 0 };
    this.entries.set(name, entry);
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const sep = (await endsWithoutNewline(this.path)) ? "\n" : "";
      await appendFile(this.path, sep + formatNameKeyLine(name, text), { mode: 0o600 });
    } catch (e) {
      this.entries.delete(name);
      throw new IdentityError("BAD_KNOWN_PEERS", `cannot write known peers file ${this.path}: ${(e as Error).message}`);
    }
  }
}

/** True if the file exists, is non-empty and its last byte is not '\n'. */
async function endsWithoutNewline(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}
