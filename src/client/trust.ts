// Which peer keys a client accepts.
import { equalBytes } from "../crypto/kdf.ts";
import { keyToText } from "../identity/keys.ts";

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

/**
 * Why the key the server introduced `peer` with is refused, or undefined to
 * accept it: a --peer-key pin for that peer wins, then the known peers. A
 * changed key is never silently accepted.
 */
export function refusedKey(trust: PeerTrust, peer: string, key: Uint8Array, pin?: { peer: string; key: Uint8Array }): string | undefined {
  const shown = keyToText(key);
  if (pin && peer === pin.peer) {
    return equalBytes(key, pin.key) ? undefined : `the server introduced ${peer} with key ${shown}, not the --peer-key ${keyToText(pin.key)}`;
  }
  if (trust.check(peer, key) !== "changed") return undefined;
  return `${peer}'s key changed to ${shown}: refusing (if expected, remove ${peer}'s line from known_peers)`;
}
