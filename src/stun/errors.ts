// Why a STUN datagram could not be decoded, or a message could not be encoded.
// Checked by `code`, not instanceof. A bad datagram is counted and dropped,
// never answered (RFC 8489 §6.3: malformed messages are silently discarded).

export type StunDecodeErrorCode =
  | "NOT_STUN" // first byte above 3 or no magic cookie: another protocol (RFC 7983), or RFC 3489 STUN
  | "TRUNCATED" // shorter than the 20-byte header, or than its length field says
  | "BAD_LENGTH" // length field not a multiple of 4, or bytes after the message
  | "BAD_ATTRIBUTE" // an attribute overruns the message, or a known attribute has a malformed value
  | "BAD_FINGERPRINT" // FINGERPRINT is not the CRC-32 of the message (RFC 8489 §14.7)
  | "FINGERPRINT_NOT_LAST"; // an attribute follows FINGERPRINT

export class StunDecodeError extends Error {
  readonly code: StunDecodeErrorCode;
  /** The attribute type at fault, for the attribute-level codes. */
  readonly attribute?: number;
  constructor(code: StunDecodeErrorCode, message: string, attribute?: number) {
    super(message);
    this.name = "StunDecodeError";
    this.code = code;
    this.attribute = attribute;
  }
}

/** A caller bug: the message asked for cannot be put on the wire. */
export type StunEncodeErrorCode =
  | "BAD_TRANSACTION_ID" // not 12 bytes
  | "BAD_METHOD" // not 0..0xFF (larger methods would make the first byte exceed 3, RFC 7983)
  | "BAD_ADDRESS" // not an IP literal, or port not 0..65535
  | "BAD_ERROR_CODE" // not an integer 300..699
  | "TOO_LONG"; // a value or the whole message exceeds what its length field or the RFC allows

export class StunEncodeError extends Error {
  readonly code: StunEncodeErrorCode;
  constructor(code: StunEncodeErrorCode, message: string) {
    super(message);
    this.name = "StunEncodeError";
    this.code = code;
  }
}
