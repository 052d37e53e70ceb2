// RFC 3489 ("classic STUN") Binding, for the old clients still in use
// (Debian's `stun` among them). RFC 8489 §12 lets a server answer them: no
// magic cookie, a 16-byte transaction id, MAPPED-ADDRESS (never XORed),
// IPv4 only in RFC 3489 (IPv6 addresses use family 2 as RFC 5389 does).
// Also CHANGE-REQUEST (RFC 3489 §11.2.4, RFC 5780 §7.2), which asks for the
// answer from the server's other address or port. Pure functions over bytes.
import type { Addr } from "../net/address.ts";
import {
  ATTRIBUTE_HEADER_BYTES,
  ERROR_CODE,
  ERROR_REASONS,
  FAMILY_IPV4,
  FAMILY_IPV6,
  ipInto,
  MAGIC_COOKIE,
  MAPPED_ADDRESS,
  STUN_HEADER_BYTES,
  type StunAttribute,
  UNKNOWN_ATTRIBUTES,
  utf8,
} from "./attributes.ts";
import { StunDecodeError } from "./errors.ts";

export const CLASSIC_TRANSACTION_ID_BYTES = 16;
export const RESPONSE_ADDRESS = 0x0002;
export const CHANGE_REQUEST = 0x0003;
export const SOURCE_ADDRESS = 0x0004;
export const CHANGED_ADDRESS = 0x0005;
/** RFC 5780 §7.2: CHANGE-REQUEST flag bits. */
export const CHANGE_IP = 0x04;
export const CHANGE_PORT = 0x02;

const BINDING_REQUEST = 0x0001;
const BINDING_RESPONSE = 0x0101;
const BINDING_ERROR = 0x0111;

export interface ClassicRequest {
  type: number;
  /** 16 bytes: RFC 3489 had no magic cookie. */
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const padded = (n: number) => (n + 3) & ~3;

/** First byte 0–3, a length that frames the datagram exactly, and no magic cookie. */
export function isClassicStun(b: Uint8Array): boolean {
  if (b.length < STUN_HEADER_BYTES || b[0]! > 3) return false;
  const len = u16(b, 2);
  const cookie = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
  return len % 4 === 0 && STUN_HEADER_BYTES + len === b.length && cookie !== MAGIC_COOKIE;
}

/** Decodes a classic message; throws StunDecodeError. */
export function decodeClassic(b: Uint8Array): ClassicRequest {
  if (!isClassicStun(b)) throw new StunDecodeError("NOT_STUN", "not a classic (RFC 3489) STUN message");
  const attributes: StunAttribute[] = [];
  for (let at = STUN_HEADER_BYTES; at < b.length; ) {
    if (at + ATTRIBUTE_HEADER_BYTES > b.length) throw new StunDecodeError("TRUNCATED", "attribute header past the end");
    const type = u16(b, at);
    const len = u16(b, at + 2);
    const start = at + ATTRIBUTE_HEADER_BYTES;
    if (start + len > b.length) throw new StunDecodeError("BAD_LENGTH", `attribute 0x${type.toString(16)} overruns the message`);
    attributes.push({ type, value: b.subarray(start, start + len), offset: at });
    at = start + padded(len);
  }
  return { type: u16(b, 0), transactionId: b.subarray(4, STUN_HEADER_BYTES), attributes };
}

export const isClassicBindingRequest = (m: ClassicRequest) => m.type === BINDING_REQUEST;

/** The CHANGE-REQUEST flags (CHANGE_IP | CHANGE_PORT), 0 when absent; -1 when malformed. */
export function changeFlags(attributes: readonly StunAttribute[]): number {
  const a = attributes.find((x) => x.type === CHANGE_REQUEST);
  if (!a) return 0;
  if (a.value.length !== 4) return -1;
  return a.value[3]! & (CHANGE_IP | CHANGE_PORT);
}

/** Comprehension-required attributes a classic Binding request may carry that we do not handle. */
export function classicUnknown(attributes: readonly StunAttribute[]): number[] {
  const out: number[] = [];
  for (const a of attributes) if (a.type < 0x8000 && a.type !== CHANGE_REQUEST && !out.includes(a.type)) out.push(a.type);
  return out;
}

function addressValue(a: Addr): Uint8Array {
  const ip = new Uint8Array(16);
  const n = ipInto(a.ip, ip);
  const v = new Uint8Array(4 + n);
  v[1] = n === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  v[2] = a.port >> 8;
  v[3] = a.port & 0xff;
  v.set(ip.subarray(0, n), 4);
  return v;
}

function encode(type: number, transactionId: Uint8Array, attrs: Array<[number, Uint8Array]>): Uint8Array {
  const len = attrs.reduce((n, [, v]) => n + ATTRIBUTE_HEADER_BYTES + padded(v.length), 0);
  const out = new Uint8Array(STUN_HEADER_BYTES + len);
  out[0] = type >> 8;
  out[1] = type & 0xff;
  out[2] = len >> 8;
  out[3] = len & 0xff;
  out.set(transactionId.subarray(0, CLASSIC_TRANSACTION_ID_BYTES), 4);
  let at = STUN_HEADER_BYTES;
  for (const [t, v] of attrs) {
    out[at] = t >> 8;
    out[at + 1] = t & 0xff;
    out[at + 2] = v.length >> 8;
    out[at + 3] = v.length & 0xff;
    out.set(v, at + ATTRIBUTE_HEADER_BYTES);
    at += ATTRIBUTE_HEADER_BYTES + padded(v.length);
  }
  return out;
}

/** Binding Response: MAPPED-ADDRESS, then SOURCE-ADDRESS and CHANGED-ADDRESS when known. */
export function encodeClassicBindingResponse(o: { transactionId: Uint8Array; mapped: Addr; source?: Addr; changed?: Addr }): Uint8Array {
  const attrs: Array<[number, Uint8Array]> = [[MAPPED_ADDRESS, addressValue(o.mapped)]];
  if (o.source) attrs.push([SOURCE_ADDRESS, addressValue(o.source)]);
  if (o.changed) attrs.push([CHANGED_ADDRESS, addressValue(o.changed)]);
  return encode(BINDING_RESPONSE, o.transactionId, attrs);
}

/** Binding Error Response: ERROR-CODE, and UNKNOWN-ATTRIBUTES for a 420. */
export function encodeClassicBindingError(o: { transactionId: Uint8Array; code: 400 | 420; unknownAttributes?: readonly number[] }): Uint8Array {
  const reason = utf8(ERROR_REASONS[o.code] ?? "");
  const code = new Uint8Array(4 + reason.length);
  code[2] = Math.floor(o.code / 100);
  code[3] = o.code % 100;
  code.set(reason, 4);
  const attrs: Array<[number, Uint8Array]> = [[ERROR_CODE, code]];
  if (o.unknownAttributes?.length) {
    // RFC 3489 §11.2.10: an odd count repeats one type to fill the 4-byte boundary.
    const list = o.unknownAttributes.length % 2 ? [...o.unknownAttributes, o.unknownAttributes[0]!] : o.unknownAttributes;
    const v = new Uint8Array(2 * list.length);
    list.forEach((t, i) => {
      v[2 * i] = t >> 8;
      v[2 * i + 1] = t & 0xff;
    });
    attrs.push([UNKNOWN_ATTRIBUTES, v]);
  }
  return encode(BINDING_ERROR, o.transactionId, attrs);
}
