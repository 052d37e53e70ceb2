// Which peer keys a client accepts.
import { equalBytes } from "../crypto/kdf.ts";

/** Which peer keys to accept: trust on first use, like SSH's known_hosts. */
export interface PeerTrust {
  check(name: string, key: Uint8Array): "known" | "new" | "changed";
  remember(name: string, key: Uint8Array): void;
}

/** In-memory trust on first use (the library default; the CLI persists it in known_peers). */
export function memoryTrust(): PeerTrust {
  const keys = new Map<string, Uint8Array>();
  return {
    check: (name, key) => {
      const k = keys.get(name);
      return !k ? "new" : equalBytes(k, key) ? "known" : "changed";
    },
    remember: (name, key) => void keys.set(name, key),
  };
}
