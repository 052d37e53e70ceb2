// STUN wire numbers, the rules a known attribute's value must follow, and
// readers over a decoded message. Pure functions over bytes.
//
// Attribute TLV (RFC 8489 §14), big-endian, each padded to a 4-byte boundary
// (padding bytes may hold anything and are ignored):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-------------------------------+-------------------------------+
//   |             Type              |   Length (value bytes, unpadded)
//   +-------------------------------+-------------------------------+
//   |                  Value ...                    | padding 0-3 B |
//
// Types 0x0000–0x7FFF are comprehension-required: a request carrying one the
// server does not know is answered 420 with UNKNOWN-ATTRIBUTES (§14.13).
// Types 0x8000–0xFFFF are comprehension-optional and may be ignored.
//
// (XOR-)MAPPED-ADDRESS value (§14.1, §14.2): 0x00, family (1 = IPv4,
// 2 = IPv6), port, then 4 or 16 address bytes. XOR-MAPPED-ADDRESS XORs the
// port with the cookie's top 16 bits and the address with cookie ‖ transaction id.
import { isIP } from "node:net";
import { bytesToIp, ipToBytes, type Addr } from "../net/address.ts";
import { StunEncodeError } from "./errors.ts";

export const STUN_HEADER_BYTES = 20;
export const MAGIC_COOKIE = 0x2112a442;
export const TRANSACTION_ID_BYTES = 12;
export const ATTRIBUTE_HEADER_BYTES = 4;
export const MESSAGE_INTEGRITY_BYTES = 20;
export const FINGERPRINT_BYTES = 4;
/** FINGERPRINT = CRC-32 of the message before it, XORed with "STUN" (§14.7). */
export const FINGERPRINT_XOR = 0x5354554e;
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;
/** Text values hold fewer than 128 characters: at most 509 bytes when sent, 763 when received (§14.8, §14.14). */
export const MAX_TEXT_ENCODE_BYTES = 509;
export const MAX_TEXT_DECODE_BYTES = 763;

/** The only method RFC 8489 defines. */
export const BINDING = 0x001;

// Comprehension-required (IANA STUN attribute registry, RFC 8489 §18; ICE ones from RFC 8445 §16.1).
export const MAPPED_ADDRESS = 0x0001;
export const USERNAME = 0x0006;
export const MESSAGE_INTEGRITY = 0x0008;
export const ERROR_CODE = 0x0009;
export const UNKNOWN_ATTRIBUTES = 0x000a;
export const REALM = 0x0014;
export const NONCE = 0x0015;
export const MESSAGE_INTEGRITY_SHA256 = 0x001c;
export const PASSWORD_ALGORITHM = 0x001d;
export const USERHASH = 0x001e;
export const XOR_MAPPED_ADDRESS = 0x0020;
export const PRIORITY = 0x0024;
export const USE_CANDIDATE = 0x0025;
// Comprehension-optional.
export const PASSWORD_ALGORITHMS = 0x8002;
export const ALTERNATE_DOMAIN = 0x8003;
export const SOFTWARE = 0x8022;
export const ALTERNATE_SERVER = 0x8023;
export const FINGERPRINT = 0x8028;
export const ICE_CONTROLLED = 0x8029;
export const ICE_CONTROLLING = 0x802a;

/** Default reason phrases for ERROR-CODE (§14.8). */
export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: "Try Alternate", 400: "Bad Request", 401: "Unauthenticated", 403: "Forbidden", 420: "Unknown Attribute",
  438: "Stale Nonce", 500: "Server Error",
};

export type StunClass = "request" | "indication" | "success" | "error";

export interface StunAttribute {
  type: number;
  /** The unpadded value: a view into the decoded bytes (copy it to keep it). */
  value: Uint8Array;
  /** Where the attribute's 4-byte header starts, from the start of the message. */
  offset: number;
}

export interface StunMessage {
  /** The raw 14-bit message type (method and class bits interleaved, §5). */
  type: number;
  method: number;
  cls: StunClass;
  /** A view into the decoded bytes. */
  transactionId: Uint8Array;
  /** In wire order; attributes the RFC says to ignore (after MESSAGE-INTEGRITY, §9) are left out. */
  attributes: StunAttribute[];
}

type Check = (v: Uint8Array) => boolean;
const anything: Check = () => true;
const exactly = (n: number): Check => (v) => v.length === n;
const text: Check = (v) => v.length <= MAX_TEXT_DECODE_BYTES;
const address: Check = (v) => (v[1] === FAMILY_IPV4 && v.length === 8) || (v[1] === FAMILY_IPV6 && v.length === 20);
const errorCode: Check = (v) => v.length >= 4 && v.length <= 4 + MAX_TEXT_DECODE_BYTES && (v[2]! & 7) >= 3 && (v[2]! & 7) <= 6 && v[3]! <= 99;

/** Every attribute this codec understands, with the shape its value must have. */
const KNOWN = new Map<number, Check>([
  [MAPPED_ADDRESS, address],
  [USERNAME, text],
  [MESSAGE_INTEGRITY, exactly(MESSAGE_INTEGRITY_BYTES)],
  [ERROR_CODE, errorCode],
  [UNKNOWN_ATTRIBUTES, (v) => v.length % 2 === 0],
  [REALM, text],
  [NONCE, text],
  [MESSAGE_INTEGRITY_SHA256, (v) => v.length >= 16 && v.length <= 32 && v.length % 4 === 0],
  [PASSWORD_ALGORITHM, (v) => v.length >= 4],
  [USERHASH, exactly(32)],
  [XOR_MAPPED_ADDRESS, address],
  [PRIORITY, exactly(4)],
  [USE_CANDIDATE, exactly(0)],
  [PASSWORD_ALGORITHMS, anything],
  [ALTERNATE_DOMAIN, (v) => v.length <= 255],
  [SOFTWARE, text],
  [ALTERNATE_SERVER, address],
  [FINGERPRINT, exactly(FINGERPRINT_BYTES)],
  [ICE_CONTROLLED, exactly(8)],
  [ICE_CONTROLLING, exactly(8)],
]);

/** False only for a known attribute whose value is malformed; unknown ones are opaque. */
export function attributeValueOk(type: number, value: Uint8Array): boolean {
  return KNOWN.get(type)?.(value) ?? true;
}

/**
 * Comprehension-required types (0x0000–0x7FFF) this codec does not know,
 * each once, in order of appearance: what a 420 response lists (§6.3.1).
 */
export function unknownComprehensionRequired(msg: StunMessage): number[] {
  const out: number[] = [];
  for (const a of msg.attributes) {
    if (a.type < 0x8000 && !KNOWN.has(a.type) && !out.includes(a.type)) out.push(a.type);
  }
  return out;
}

/** The first attribute of a type (later duplicates are ignored, §14). */
export function findAttribute(msg: StunMessage, type: number): StunAttribute | undefined {
  for (const a of msg.attributes) if (a.type === type) return a;
  return undefined;
}

/** The address the server saw: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (RFC 3489-era servers). */
export function readMappedAddress(msg: StunMessage): Addr | undefined {
  const x = findAttribute(msg, XOR_MAPPED_ADDRESS);
  if (x) return readAddress(x.value, msg.transactionId);
  const m = findAttribute(msg, MAPPED_ADDRESS);
  return m && readAddress(m.value);
}

/** Reads an address value; with a transaction id, undoes the XOR of XOR-MAPPED-ADDRESS. */
export function readAddress(v: Uint8Array, xorTransactionId?: Uint8Array): Addr | undefined {
  if (!address(v) || (xorTransactionId && xorTransactionId.length !== TRANSACTION_ID_BYTES)) return undefined;
  const pad = (i: number): number => {
    if (!xorTransactionId) return 0;
    return i < 4 ? (MAGIC_COOKIE >>> (24 - 8 * i)) & 0xff : xorTransactionId[i - 4]!;
  };
  const port = ((v[2]! << 8) | v[3]!) ^ (pad(0) << 8) ^ pad(1);
  const ip = new Uint8Array(v.length - 4);
  for (let i = 0; i < ip.length; i++) ip[i] = v[4 + i]! ^ pad(i);
  return { ip: bytesToIp(ip), port };
}

const decoder = new TextDecoder();

/** A UTF-8 attribute (SOFTWARE, USERNAME, REALM, NONCE…) as a string; bad UTF-8 becomes U+FFFD. */
export function readText(msg: StunMessage, type: number): string | undefined {
  const a = findAttribute(msg, type);
  return a && decoder.decode(a.value);
}

export function readSoftware(msg: StunMessage): string | undefined {
  return readText(msg, SOFTWARE);
}

/** ERROR-CODE (§14.8) as 300..699 and its reason phrase. */
export function readErrorCode(msg: StunMessage): { code: number; reason: string } | undefined {
  const a = findAttribute(msg, ERROR_CODE);
  if (!a || !errorCode(a.value)) return undefined;
  return { code: (a.value[2]! & 7) * 100 + a.value[3]!, reason: decoder.decode(a.value.subarray(4)) };
}

/** The types listed in UNKNOWN-ATTRIBUTES (§14.13), as a 420 response carries them. */
export function readUnknownAttributes(msg: StunMessage): number[] | undefined {
  const a = findAttribute(msg, UNKNOWN_ATTRIBUTES);
  if (!a) return undefined;
  const out: number[] = [];
  for (let i = 0; i + 1 < a.value.length; i += 2) out.push((a.value[i]! << 8) | a.value[i + 1]!);
  return out;
}

/** Whether the message carried a FINGERPRINT (decodeStun has already checked its value). */
export function hasFingerprint(msg: StunMessage): boolean {
  return findAttribute(msg, FINGERPRINT) !== undefined;
}

// ---- value encoding ----

// SOFTWARE and reason phrases repeat on a server's hot path: encode each text once.
const encoder = new TextEncoder();
const utf8Cache = new Map<string, Uint8Array>();
/** UTF-8 bytes of a text value, cached (do not modify the result). */
export function utf8(s: string): Uint8Array {
  let b = utf8Cache.get(s);
  if (!b) {
    if (utf8Cache.size >= 64) utf8Cache.clear();
    utf8Cache.set(s, (b = encoder.encode(s)));
  }
  return b;
}

/**
 * Writes the bytes of an IP literal into `out` (16 bytes or more); returns 4
 * or 16. IPv4-mapped IPv6 becomes IPv4. Throws StunEncodeError BAD_ADDRESS.
 */
export function ipInto(ip: string, out: Uint8Array): 4 | 16 {
  if (parseIpv4(ip, out)) return 4;
  if (isIP(ip) !== 6) throw new StunEncodeError("BAD_ADDRESS", `not an IP address: ${ip}`);
  const b = ipToBytes(ip);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  out.set(mapped ? b.subarray(12) : b);
  return mapped ? 4 : 16;
}

/** Dotted-quad parser that allocates nothing (the common case on a server). */
function parseIpv4(ip: string, out: Uint8Array): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 0x2e; // a final '.' closes the last part
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[part++] = value;
      value = digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      value = value * 10 + c - 0x30;
      digits++;
      if (value > 255) return false;
    } else return false;
  }
  return part === 4;
}
