// One error class per failure, each with a stable `code` (checked by code,
// not instanceof) and the process exit code the CLIs use for it.

export const ErrorCodes = {
  BAD_ARGUMENT: 2,
  SERVER_UNREACHABLE: 3,
  RESOLVE_FAILED: 3,
  NAME_INVALID: 4,
  NAME_TAKEN: 5,
  REGISTRY_FULL: 6,
  UNSUPPORTED_VERSION: 7,
  PEER_UNKNOWN: 8,
  PUNCH_FAILED: 9,
  PEER_LOST: 10,
  SOCKET_ERROR: 11,
  NOT_ALLOWED: 12,
  REGISTRATION_REFUSED: 12,
  PEER_KEY_CHANGED: 13,
  IDENTITY_ERROR: 14,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** A failure a user can act on: one clear line, a stable code, an exit code. */
export class HpError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "HpError";
    this.code = code;
  }
  get exitCode(): number {
    return ErrorCodes[this.code];
  }
}

export function isHpError(e: unknown): e is HpError {
  return typeof e === "object" && e !== null && "code" in e && (e as HpError).name === "HpError";
}

/** Why a datagram could not be decoded. Never sent to anyone: counted and dropped. */
export type DecodeErrorCode =
  | "NOT_OURS" // no magic prefix (someone else's protocol, or noise)
  | "UNSUPPORTED_VERSION" // our magic, a version we do not speak
  | "TOO_LARGE"
  | "MALFORMED" // protobuf did not parse
  | "INVALID"; // parsed, but a field is out of range or the body is missing

export class DecodeError extends Error {
  readonly code: DecodeErrorCode;
  readonly version?: number;
  constructor(code: DecodeErrorCode, message: string, version?: number) {
    super(message);
    this.name = "DecodeError";
    this.code = code;
    this.version = version;
  }
}
