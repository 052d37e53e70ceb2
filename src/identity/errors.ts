// The identity layer's one error class. Callers check `code`, never the
// message; the message is one line a user can act on (and never holds key
// material).

export type IdentityErrorCode =
  | "BAD_KEY" // key text is not 32 bytes of canonical base64url
  | "BAD_IDENTITY_FILE" // identity file unreadable, corrupted, or public/private mismatch
  | "INSECURE_PERMISSIONS" // identity file readable or writable by group/other
  | "BAD_KNOWN_PEERS" // known_peers has a malformed line, or a conflicting remember()
  | "BAD_ALLOW_LIST"; // allow list missing, malformed, or lists a name twice

export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string) {
    super(message);
    this.name = "IdentityError";
    this.code = code;
  }
}

export function isIdentityError(e: unknown): e is IdentityError {
  return typeof e === "object" && e !== null && "code" in e && (e as IdentityError).name === "IdentityError";
}
