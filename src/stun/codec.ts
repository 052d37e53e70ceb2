// A STUN (RFC 8489) message codec: pure functions over bytes, no sockets, no clocks.
//
// Message header (RFC 8489 §5), big-endian:
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |0 0|     STUN Message Type     |         Message Length        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Magic Cookie 0x2112A442                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                 Transaction ID (96 bits) ...                  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Message type bits: M11..M7 C1 M6..M4 C0 M3..M0 (method M, class C).
// RFC 7983 demultiplexing keeps the first byte 0–3, so methods are 0x000–0x0FF
// here (Binding is 0x001, TURN's are below 0x010).
// Message Length counts the attribute bytes after the header (a multiple of 4).
// Attributes follow (see attributes.ts); MESSAGE-INTEGRITY (§14.5, HMAC-SHA1)
// and FINGERPRINT (§14.7, CRC-32 xor "STUN", always last) come at the end, and
// attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
// FINGERPRINT are ignored (§9). Credentials: short-term §9.1, long-term §9.2.
//
// Demultiplexing (RFC 7983): STUN is the only protocol whose first byte is
// 0–3; the magic cookie then tells RFC 5389/8489 STUN from noise. Our own
// datagrams start with 0xE8, so the two never collide on one socket.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Addr } from "../net/address.ts";
import {
  ATTRIBUTE_HEADER_BYTES, attributeValueOk, ERROR_REASONS, ipInto, utf8, BINDING, ERROR_CODE, FAMILY_IPV4, FAMILY_IPV6, findAttribute, FINGERPRINT,
  FINGERPRINT_BYTES, FINGERPRINT_XOR, MAGIC_COOKIE, MAX_TEXT_ENCODE_BYTES, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_BYTES,
  MESSAGE_INTEGRITY_SHA256, SOFTWARE, STUN_HEADER_BYTES, TRANSACTION_ID_BYTES, UNKNOWN_ATTRIBUTES, XOR_MAPPED_ADDRESS,
  type StunAttribute, type StunClass, type StunMessage,
} from "./attributes.ts";
import { StunDecodeError, StunEncodeError } from "./errors.ts";

export * from "./attributes.ts";
export * from "./errors.ts";

const CLASSES: readonly StunClass[] = ["request", "indication", "success", "error"];
const CLASS_BITS: Record<StunClass, number> = { request: 0x000, indication: 0x010, success: 0x100, error: 0x110 };
const MI_ATTRIBUTE_BYTES = ATTRIBUTE_HEADER_BYTES + MESSAGE_INTEGRITY_BYTES;
const FP_ATTRIBUTE_BYTES = ATTRIBUTE_HEADER_BYTES + FINGERPRINT_BYTES;
const MAX_LENGTH = 0xffff;

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}
function put32(b: Uint8Array, at: number, v: number): void {
  put16(b, at, v >>> 16);
  put16(b, at + 2, v & 0xffff);
}
const padded = (n: number) => (n + 3) & ~3;
const hex = (type: number) => `0x${type.toString(16).padStart(4, "0")}`;

/** The message type for a method (0..0xFF, see above) and class (§5). */
export function messageType(method: number, cls: StunClass): number {
  return (method & 0x00f) | ((method & 0x070) << 1) | ((method & 0xf80) << 2) | CLASS_BITS[cls];
}

/** Header-only check (§5, RFC 7983): first byte 0–3, magic cookie, length a multiple of 4 that matches the datagram. */
export function isStunPacket(b: Uint8Array): boolean {
  if (b.length < STUN_HEADER_BYTES || b[0]! > 3 || u32(b, 4) !== MAGIC_COOKIE) return false;
  const length = u16(b, 2);
  return length % 4 === 0 && STUN_HEADER_BYTES + length === b.length;
}

/** Decodes and checks one datagram. Throws StunDecodeError (stable `code`) on anything malformed. */
export function decodeStun(b: Uint8Array): StunMessage {
  if (b.length > 0 && b[0]! > 3) throw new StunDecodeError("NOT_STUN", `first byte ${b[0]} is not 0-3`);
  if (b.length < STUN_HEADER_BYTES) throw new StunDecodeError("TRUNCATED", `${b.length} bytes is shorter than a STUN header`);
  if (u32(b, 4) !== MAGIC_COOKIE) throw new StunDecodeError("NOT_STUN", "no magic cookie");
  const length = u16(b, 2);
  if (length % 4 !== 0) throw new StunDecodeError("BAD_LENGTH", `length ${length} is not a multiple of 4`);
  if (STUN_HEADER_BYTES + length > b.length) throw new StunDecodeError("TRUNCATED", `length ${length} overruns ${b.length} bytes`);
  if (STUN_HEADER_BYTES + length < b.length) throw new StunDecodeError("BAD_LENGTH", `${b.length - STUN_HEADER_BYTES - length} bytes after the message`);
  const type = u16(b, 0);
  const attributes: StunAttribute[] = [];
  let afterIntegrity = false; // only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count after MESSAGE-INTEGRITY
  let afterSha256 = false; // only FINGERPRINT counts after MESSAGE-INTEGRITY-SHA256
  for (let at = STUN_HEADER_BYTES; at < b.length; ) {
    const t = u16(b, at);
    const end = at + ATTRIBUTE_HEADER_BYTES + u16(b, at + 2);
    if (end > b.length) throw new StunDecodeError("BAD_ATTRIBUTE", `attribute ${hex(t)} overruns the message`, t);
    const next = STUN_HEADER_BYTES + padded(end - STUN_HEADER_BYTES);
    if (t === FINGERPRINT && next !== b.length) throw new StunDecodeError("FINGERPRINT_NOT_LAST", "attributes after FINGERPRINT", t);
    const value = b.subarray(at + ATTRIBUTE_HEADER_BYTES, end);
    const ignored = t !== FINGERPRINT && (afterSha256 || (afterIntegrity && t !== MESSAGE_INTEGRITY_SHA256));
    if (!ignored) {
      if (!attributeValueOk(t, value)) throw new StunDecodeError("BAD_ATTRIBUTE", `malformed attribute ${hex(t)}`, t);
      if (t === FINGERPRINT && u32(value, 0) !== fingerprintOf(b.subarray(0, at))) {
        throw new StunDecodeError("BAD_FINGERPRINT", "FINGERPRINT does not match", t);
      }
      attributes.push({ type: t, value, offset: at });
      afterIntegrity ||= t === MESSAGE_INTEGRITY || t === MESSAGE_INTEGRITY_SHA256;
      afterSha256 ||= t === MESSAGE_INTEGRITY_SHA256;
    }
    at = next;
  }
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const cls = CLASSES[((type >> 7) & 2) | ((type >> 4) & 1)]!;
  return { type, method, cls, transactionId: b.subarray(8, STUN_HEADER_BYTES), attributes };
}

// ---- integrity and fingerprint ----

/** CRC-32 (ISO-HDLC, as zlib) of the bytes, XOR 0x5354554E (§14.7). */
function fingerprintOf(bytes: Uint8Array): number {
  return (Bun.hash.crc32(bytes) ^ FINGERPRINT_XOR) >>> 0;
}

/** HMAC-SHA1 over bytes[0, at), with the length field as if a MESSAGE-INTEGRITY at `at` ended the message (§14.5). */
function integrityOf(bytes: Uint8Array, at: number, key: Uint8Array): Uint8Array {
  const length = at + MI_ATTRIBUTE_BYTES - STUN_HEADER_BYTES;
  return createHmac("sha1", key)
    .update(bytes.subarray(0, 2))
    .update(Uint8Array.of(length >>> 8, length & 0xff))
    .update(bytes.subarray(4, at))
    .digest();
}

/** Whether MESSAGE-INTEGRITY is present and right. `bytes` are the datagram `msg` was decoded from. */
export function checkMessageIntegrity(msg: StunMessage, bytes: Uint8Array, key: Uint8Array): boolean {
  const mi = findAttribute(msg, MESSAGE_INTEGRITY);
  if (!mi || mi.value.length !== MESSAGE_INTEGRITY_BYTES || bytes.length < mi.offset + MI_ATTRIBUTE_BYTES) return false;
  return timingSafeEqual(integrityOf(bytes, mi.offset, key), mi.value);
}

/** Short-term key (§9.1.1): the password as UTF-8, after OpaqueString's mapping (non-ASCII spaces to U+0020, NFC). */
export function shortTermKey(password: string): Uint8Array {
  return new TextEncoder().encode(password.replace(/\p{Zs}/gu, " ").normalize("NFC"));
}

/** Long-term key (§9.2.2): MD5(username ":" realm ":" password), inputs already prepared by the caller. */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  return createHash("md5").update(`${username}:${realm}:${password}`).digest();
}

/** A fresh random 96-bit transaction id (§5: uniformly random). */
export function newTransactionId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TRANSACTION_ID_BYTES));
}

// ---- encoders: size first, then one allocation, written in place ----

export interface EncodeOptions {
  /** SOFTWARE attribute (§14.14), at most 509 bytes of UTF-8. */
  software?: string;
  /** Adds MESSAGE-INTEGRITY with this key (shortTermKey / longTermKey). */
  integrityKey?: Uint8Array;
  /** Adds FINGERPRINT, last (§7). */
  fingerprint?: boolean;
}

export interface StunMessageInit extends EncodeOptions {
  method: number;
  cls: StunClass;
  transactionId: Uint8Array;
  /** Written in order, before SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT. */
  attributes?: ReadonlyArray<{ type: number; value: Uint8Array }>;
}

export function encodeStun(m: StunMessageInit): Uint8Array {
  if (!Number.isInteger(m.method) || m.method < 0 || m.method > 0xff) throw new StunEncodeError("BAD_METHOD", `method ${m.method} is not 0..0xFF`);
  const attrs = m.attributes ?? [];
  let bytes = STUN_HEADER_BYTES + tailBytes(m);
  for (const a of attrs) bytes += ATTRIBUTE_HEADER_BYTES + padded(checkedLength(a.value.length, MAX_LENGTH));
  const out = begin(bytes, messageType(m.method, m.cls), m.transactionId);
  let at = STUN_HEADER_BYTES;
  for (const a of attrs) at = putBytes(out, at, a.type, a.value);
  finish(out, at, m);
  return out;
}

export function encodeBindingRequest(o: EncodeOptions & { transactionId: Uint8Array }): Uint8Array {
  return encodeStun({ ...o, method: BINDING, cls: "request" });
}

/** A Binding success response carrying XOR-MAPPED-ADDRESS (§14.2) for `mapped`. */
export function encodeBindingSuccess(o: EncodeOptions & { transactionId: Uint8Array; mapped: Addr }): Uint8Array {
  const ipBytes = ipInto(o.mapped.ip, ipScratch);
  const port = o.mapped.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new StunEncodeError("BAD_ADDRESS", `bad port ${port}`);
  const out = begin(STUN_HEADER_BYTES + ATTRIBUTE_HEADER_BYTES + 4 + ipBytes + tailBytes(o), messageType(BINDING, "success"), o.transactionId);
  const v = putHeader(out, STUN_HEADER_BYTES, XOR_MAPPED_ADDRESS, 4 + ipBytes);
  out[v + 1] = ipBytes === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  put16(out, v + 2, port ^ (MAGIC_COOKIE >>> 16));
  // The XOR pad is cookie ‖ transaction id: exactly header bytes 4..19, already written.
  for (let i = 0; i < ipBytes; i++) out[v + 4 + i] = ipScratch[i]! ^ out[4 + i]!;
  finish(out, v + 4 + ipBytes, o);
  return out;
}

/** A Binding error response (§14.8): ERROR-CODE, then UNKNOWN-ATTRIBUTES (§14.13) if given (with 420). */
export function encodeBindingError(
  o: EncodeOptions & { transactionId: Uint8Array; code: number; reason?: string; unknownAttributes?: readonly number[]; method?: number },
): Uint8Array {
  if (!Number.isInteger(o.code) || o.code < 300 || o.code > 699) throw new StunEncodeError("BAD_ERROR_CODE", `error code ${o.code} is not 300..699`);
  const reason = utf8(o.reason ?? ERROR_REASONS[o.code] ?? "");
  checkedLength(reason.length, MAX_TEXT_ENCODE_BYTES);
  const unknown = o.unknownAttributes;
  let bytes = STUN_HEADER_BYTES + ATTRIBUTE_HEADER_BYTES + padded(4 + reason.length) + tailBytes(o);
  if (unknown) bytes += ATTRIBUTE_HEADER_BYTES + padded(2 * unknown.length);
  const out = begin(bytes, messageType(o.method ?? BINDING, "error"), o.transactionId);
  let v = putHeader(out, STUN_HEADER_BYTES, ERROR_CODE, 4 + reason.length);
  out[v + 2] = Math.floor(o.code / 100);
  out[v + 3] = o.code % 100;
  out.set(reason, v + 4);
  let at = v + padded(4 + reason.length);
  if (unknown) {
    v = putHeader(out, at, UNKNOWN_ATTRIBUTES, 2 * unknown.length);
    for (let i = 0; i < unknown.length; i++) put16(out, v + 2 * i, unknown[i]!);
    at = v + padded(2 * unknown.length);
  }
  finish(out, at, o);
  return out;
}

/** Address bytes for encodeBindingSuccess (used at once; JS is single-threaded). */
const ipScratch = new Uint8Array(16);

/** Bytes SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT add. */
function tailBytes(o: EncodeOptions): number {
  const software = o.software === undefined ? 0 : ATTRIBUTE_HEADER_BYTES + padded(checkedLength(utf8(o.software).length, MAX_TEXT_ENCODE_BYTES));
  return software + (o.integrityKey ? MI_ATTRIBUTE_BYTES : 0) + (o.fingerprint ? FP_ATTRIBUTE_BYTES : 0);
}

function checkedLength(n: number, max: number): number {
  if (n > max) throw new StunEncodeError("TOO_LONG", `${n} bytes exceeds ${max}`);
  return n;
}

/** Allocates the message and writes its header. Padding stays zero. */
function begin(bytes: number, type: number, transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== TRANSACTION_ID_BYTES) throw new StunEncodeError("BAD_TRANSACTION_ID", `transaction id of ${transactionId.length} bytes, not 12`);
  checkedLength(bytes - STUN_HEADER_BYTES, MAX_LENGTH);
  const out = new Uint8Array(bytes);
  put16(out, 0, type);
  put16(out, 2, bytes - STUN_HEADER_BYTES);
  put32(out, 4, MAGIC_COOKIE);
  out.set(transactionId, 8);
  return out;
}

/** Writes an attribute header; returns where its value goes. */
function putHeader(out: Uint8Array, at: number, type: number, length: number): number {
  put16(out, at, type);
  put16(out, at + 2, length);
  return at + ATTRIBUTE_HEADER_BYTES;
}

function putBytes(out: Uint8Array, at: number, type: number, value: Uint8Array): number {
  const v = putHeader(out, at, type, value.length);
  out.set(value, v);
  return v + padded(value.length);
}

/** Writes SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT, as asked, from `at` to the end. */
function finish(out: Uint8Array, at: number, o: EncodeOptions): void {
  if (o.software !== undefined) at = putBytes(out, at, SOFTWARE, utf8(o.software));
  if (o.integrityKey) {
    out.set(integrityOf(out, at, o.integrityKey), putHeader(out, at, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_BYTES));
    at += MI_ATTRIBUTE_BYTES;
  }
  if (o.fingerprint) put32(out, putHeader(out, at, FINGERPRINT, FINGERPRINT_BYTES), fingerprintOf(out.subarray(0, at)));
}
