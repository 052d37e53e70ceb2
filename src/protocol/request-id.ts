// A punch attempt's request id: the first 16 hex digits of SHA-256(token).
// Server instances and both clients derive the same id from the attempt's
// token without sending it, so their log lines about one attempt can be
// joined; the token itself is not logged (it authorises relaying).
import { createHash } from "node:crypto";

export function requestIdOf(token: Uint8Array): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}
