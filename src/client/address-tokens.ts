// Address tokens for 0-RTT registration: each server's last token (from its
// RegisterAck), kept per server address. A cache: losing or corrupting it
// only costs one round trip (the server then answers with a Challenge).
// The CLI keeps it in a 0600 JSON file next to the identity.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface AddressTokens {
  get(server: string): Uint8Array | undefined;
  /** `undefined` forgets the server's token (it was refused). */
  set(server: string, token: Uint8Array | undefined): void;
}

/** In memory (the library default): a process that re-registers skips the round trip. */
export function memoryTokens(): AddressTokens {
  const m = new Map<string, Uint8Array>();
  return {
    get: (s) => m.get(s),
    set: (s, t) => void (t ? m.set(s, t) : m.delete(s)),
  };
}

/** In a JSON file { "<server ip:port>": "<base64url token>" }; unreadable content counts as empty. */
export function fileTokens(path: string, onError: (message: string) => void = () => {}): AddressTokens {
  let all: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (parsed && typeof parsed === "object") all = Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === "string"));
  } catch {
    // missing or corrupt: start empty
  }
  return {
    get: (s) => (all[s] ? new Uint8Array(Buffer.from(all[s], "base64url")) : undefined),
    set(s, t) {
      if (t) all[s] = Buffer.from(t).toString("base64url");
      else delete all[s];
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(all) + "\n", { mode: 0o600 });
        chmodSync(tmp, 0o600);
        renameSync(tmp, path);
      } catch (e) {
        onError(`could not save address token: ${(e as Error).message}`);
      }
    },
  };
}
