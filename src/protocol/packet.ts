// The datagram codec: pure functions over bytes, no sockets, no clocks.
//
// Wire layout of every hole-punch datagram:
//
//    0      1      2      3      4 ...
//   +------+------+------+------+---------------------------------------+
//   | 0xE8 | 0x48 | 0x50 | ver  | protobuf holepunch.v1.Envelope         |
//   +------+------+------+------+---------------------------------------+
//     magic: 0xE8 'H' 'P'         ver = 1
//
// Why the prefix can never be confused with the other protocols a socket may
// see (RFC 7983 demultiplexing by first byte): STUN starts with 0–3, ZRTP
// 16–19, DTLS 20–63, TURN channels 64–79, RTP/RTCP 128–191. 0xE8 (232) is in
// none of these. (RFC 9443 gives 192–255 to QUIC long headers; QUIC never
// shares this socket, and the three magic bytes make a false match on random
// traffic a 1-in-16-million event.) Trailing bytes a future version appends inside the
// protobuf are unknown fields and are ignored (forward compatible).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema, type Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import { MAX_PACKET_BYTES, PROTOCOL_VERSION } from "../constants.ts";
import { DecodeError } from "../errors.ts";
import { validateEnvelope } from "./validate.ts";

export const MAGIC = Uint8Array.of(0xe8, 0x48, 0x50);
export const PREFIX_BYTES = 4;
const STUN_MAGIC_COOKIE = 0x2112a442;

export type Body = NonNullable<Envelope["body"]>;
export type BodyCase = NonNullable<Body["case"]>;
/** An envelope whose body is known to be `C`. */
export type EnvelopeOf<C extends BodyCase> = Envelope & { body: Extract<Body, { case: C }> };

export type PacketKind = "hp" | "stun" | "unknown";

/** Sorts a datagram by its first bytes. The only classifier a socket needs. */
export function classify(b: Uint8Array): PacketKind {
  if (b.length >= PREFIX_BYTES && b[0] === MAGIC[0] && b[1] === MAGIC[1] && b[2] === MAGIC[2]) return "hp";
  if (b.length >= 20 && b[0]! <= 3) {
    const cookie = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0;
    if (cookie === STUN_MAGIC_COOKIE) return "stun";
    // RFC 3489 STUN had no cookie: its length field frames the datagram exactly.
    const len = (b[2]! << 8) | b[3]!;
    if (len % 4 === 0 && len + 20 === b.length) return "stun";
  }
  return "unknown";
}

/** Encodes one envelope as a datagram of the current version. */
export function encodePacket(body: Body, txid: bigint = 0n): Uint8Array {
  const payload = toBinary(EnvelopeSchema, create(EnvelopeSchema, { txid, body }));
  const out = new Uint8Array(PREFIX_BYTES + payload.length);
  out.set(MAGIC, 0);
  out[3] = PROTOCOL_VERSION;
  out.set(payload, PREFIX_BYTES);
  return out;
}

/** Reads the version byte of a datagram that carries our magic, else undefined. */
export function packetVersion(b: Uint8Array): number | undefined {
  return classify(b) === "hp" ? b[3] : undefined;
}

/**
 * Decodes and validates one datagram. Throws DecodeError (with a stable
 * code) for anything that is not a well-formed v1 envelope.
 */
export function decodePacket(b: Uint8Array): Envelope & { body: Body } {
  if (classify(b) !== "hp") throw new DecodeError("NOT_OURS", "no hole-punch magic prefix");
  const version = b[3]!;
  if (version !== PROTOCOL_VERSION) {
    throw new DecodeError("UNSUPPORTED_VERSION", `protocol version ${version} is not supported`, version);
  }
  if (b.length > MAX_PACKET_BYTES) {
    throw new DecodeError("TOO_LARGE", `datagram of ${b.length} bytes exceeds ${MAX_PACKET_BYTES}`);
  }
  let env: Envelope;
  try {
    env = fromBinary(EnvelopeSchema, b.subarray(PREFIX_BYTES));
  } catch (e) {
    throw new DecodeError("MALFORMED", `bad protobuf: ${(e as Error).message}`);
  }
  const problem = validateEnvelope(env);
  if (problem) throw new DecodeError("INVALID", problem);
  return env as Envelope & { body: Body };
}
