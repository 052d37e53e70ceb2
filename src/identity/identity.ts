// A node's long-term Ed25519 identity and where it lives on disk. Key
// handling is in keys.ts (re-exported here); this module owns the file:
//
//   {"version":1,"type":"ed25519","public":"<b64url>","private":"<b64url d>"}
//
// Created once (parent dirs 0700, file 0600, temp file then an atomic
// no-overwrite link), never overwritten, refused if group/other have access.
import { createPrivateKey, randomBytes } from "node:crypto";
import { link, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import { IdentityError } from "./errors.ts";
import { identityFromPrivateKey, generateIdentity, keyFromText, type Identity } from "./keys.ts";

export * from "./keys.ts";

const MAX_FILE_BYTES = 4096;
type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/hole-punch` (if set and absolute), else `~/.config/hole-punch`. */
export function configDir(env: Env = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".config");
  return join(base, "hole-punch");
}
export const defaultIdentityPath = (env: Env = process.env) => join(configDir(env), "identity.json");
export const defaultKnownPeersPath = (env: Env = process.env) => join(configDir(env), "known_peers");
/** Servers' address tokens (0-RTT registration): a cache, safe to delete. */
export const defaultAddressTokensPath = (env: Env = process.env) => join(configDir(env), "address-tokens.json");

export function formatIdentityFile(id: Identity): string {
  const d = (id.privateKey.export({ format: "jwk" }) as { d?: string }).d;
  return JSON.stringify({ version: 1, type: "ed25519", public: id.id, private: d }) + "\n";
}

/** Parses and cross-checks an identity file's text; `source` names it in errors. */
export function parseIdentityFile(text: string, source: string): Identity {
  const bad = (why: string) => new IdentityError("BAD_IDENTITY_FILE", `identity file ${source}: ${why}`);
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    throw bad("not valid JSON");
  }
  if (typeof f !== "object" || f === null) throw bad("not a JSON object");
  const { version, type, public: pub, private: priv } = f as Record<string, unknown>;
  if (version !== 1) throw bad(`unsupported version ${JSON.stringify(version)}`);
  if (type !== "ed25519") throw bad(`unsupported key type ${JSON.stringify(type)}`);
  for (const [field, v] of [["public", pub], ["private", priv]] as const) {
    try {
      keyFromText(v as string);
    } catch {
      throw bad(`"${field}" is not a 32-byte base64url key`);
    }
  }
  let id: Identity;
  try {
    const key = createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: priv as string, x: pub as string }, format: "jwk" });
    id = identityFromPrivateKey(key);
  } catch {
    throw bad("private key does not load");
  }
  if (id.id !== pub) throw bad("public key does not match the private key");
  return id;
}

/** Loads the identity at `path`, or creates one there if no file exists. */
export async function loadOrCreateIdentity(path: string): Promise<{ identity: Identity; created: boolean }> {
  const existing = await readIdentity(path);
  if (existing) return { identity: existing, created: false };
  const identity = generateIdentity();
  if (await writeNewFile(path, formatIdentityFile(identity))) return { identity, created: true };
  // Another process created it between our read and our link: use theirs.
  const theirs = await readIdentity(path);
  if (!theirs) throw new IdentityError("BAD_IDENTITY_FILE", `identity file ${path} vanished while being created`);
  return { identity: theirs, created: false };
}

async function readIdentity(path: string): Promise<Identity | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new IdentityError("BAD_IDENTITY_FILE", `cannot read identity file ${path}: ${(e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new IdentityError("BAD_IDENTITY_FILE", `identity file ${path} is not a regular file`);
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(3, "0");
      throw new IdentityError("INSECURE_PERMISSIONS", `identity file ${path} is accessible by other users (mode ${mode}); run: chmod 600 ${shellQuote(path)}`);
    }
    if (st.size > MAX_FILE_BYTES) throw new IdentityError("BAD_IDENTITY_FILE", `identity file ${path}: too large (${st.size} bytes)`);
    return parseIdentityFile(await fh.readFile("utf8"), path);
  } finally {
    await fh.close();
  }
}

/** Writes `text` to a new file at `path` (0600, dirs 0700). False if `path` already exists. */
export async function writeNewFile(path: string, text: string): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.chmod(0o600); // whatever the umask
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return await linkNoReplace(tmp, path);
  } catch (e) {
    if (e instanceof IdentityError) throw e;
    throw new IdentityError("BAD_IDENTITY_FILE", `cannot create ${path}: ${(e as Error).message}`);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function linkNoReplace(tmp: string, path: string): Promise<boolean> {
  try {
    await link(tmp, path); // atomic, and fails rather than replace
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (!["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"].includes(code ?? "")) throw e;
  }
  // Filesystem without hard links: check, then rename (not atomic, but rare).
  if (await stat(path).then(() => true, () => false)) return false;
  await rename(tmp, path);
  return true;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
