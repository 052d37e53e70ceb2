// The server's answer to a STUN datagram (RFC 8489), on the same sockets as
// our own protocol. Pure: bytes, the sender's address and what the server's
// sockets are in; a reply (and which socket sends it) or a drop reason out.
//
// - A Binding request gets a success response: XOR-MAPPED-ADDRESS (the
//   address we saw it from, IPv4 or IPv6), SOFTWARE, FINGERPRINT (§6.3.1).
// - A request with unknown comprehension-required attributes: 420 with
//   UNKNOWN-ATTRIBUTES (§6.3.1.1). A request of another method, or one whose
//   known attributes are malformed: 400 (§6.3.1).
// - Anything that is not a well-formed request (indications, responses, bad
//   header, length or FINGERPRINT) is dropped in silence (§6.3, §7.3).
//   MESSAGE-INTEGRITY is not checked: Binding needs no credentials here.
// - RFC 3489 clients (no magic cookie) get a classic Binding Response with
//   MAPPED-ADDRESS (§12 of RFC 8489), plus SOURCE-ADDRESS and CHANGED-ADDRESS
//   when the server knows its own addresses.
// - CHANGE-REQUEST (RFC 5780 §7.2): "change port" is answered from the other
//   socket when it has the same IP; "change IP and port" when it has another
//   IP; what cannot be honoured gets 420, as RFC 5780 says.
import type { Addr } from "../net/address.ts";
import { SOFTWARE as STUN_SOFTWARE } from "../version.ts";
import {
  BINDING,
  decodeStun,
  encodeBindingError,
  encodeBindingSuccess,
  isStunPacket,
  StunDecodeError,
  STUN_HEADER_BYTES,
  unknownComprehensionRequired,
  type StunMessage,
} from "../stun/codec.ts";
import {
  CHANGE_IP,
  CHANGE_PORT,
  CHANGE_REQUEST,
  changeFlags,
  classicUnknown,
  decodeClassic,
  encodeClassicBindingError,
  encodeClassicBindingResponse,
  isClassicBindingRequest,
  isClassicStun,
} from "../stun/classic.ts";
import { BindingResponder, isBareBindingRequest } from "../stun/fast-binding.ts";

/** What the server's two sockets are, as far as CHANGE-REQUEST is concerned. */
export interface StunSockets {
  /** The other socket (alternate port, or the main one when this is the alternate): absent when there is none. */
  other?: "same-ip" | "other-ip";
  /** This socket's and the other socket's addresses, when bound to specific IPs (for SOURCE-/CHANGED-ADDRESS). */
  self?: Addr;
  otherAddr?: Addr;
}

export type StunVerdict = { reply: Uint8Array; viaOther: boolean; answered: "binding" | "classic" | "error_400" | "error_420" } | { drop: string };

const fast = new BindingResponder(STUN_SOFTWARE);

/** `alloc`: room for the reply in the receiving socket's send batch (only the hot path uses it). */
export function answerStun(bytes: Uint8Array, from: Addr, sockets: StunSockets = {}, alloc?: (bytes: number) => Uint8Array): StunVerdict {
  // What nearly every client sends: answered without the general decoder (same bytes).
  if (isBareBindingRequest(bytes)) return { reply: fast.respond(bytes, from, alloc), viaOther: false, answered: "binding" };
  if (isClassicStun(bytes)) return answerClassic(bytes, from, sockets);
  let msg: StunMessage;
  try {
    msg = decodeStun(bytes);
  } catch (e) {
    const code = e instanceof StunDecodeError ? e.code : "MALFORMED";
    // A request whose header and framing are sound but one of whose known
    // attributes is not: 400. Everything else: silence.
    if (code === "BAD_ATTRIBUTE" && isStunPacket(bytes) && isRequestHeader(bytes)) {
      return error400(bytes.subarray(8, STUN_HEADER_BYTES), methodOf(bytes), "malformed attribute");
    }
    return { drop: `stun_${code.toLowerCase()}` };
  }
  if (msg.cls !== "request") return { drop: "stun_not_request" };
  if (msg.method !== BINDING) return error400(msg.transactionId, msg.method, "only Binding is served here");
  const flags = changeFlags(msg.attributes);
  if (flags < 0) return error400(msg.transactionId, BINDING, "malformed CHANGE-REQUEST");
  const viaOther = flags !== 0;
  const unknown = unknownComprehensionRequired(msg).filter((t) => t !== CHANGE_REQUEST);
  if (flags !== 0 && !canChange(flags, sockets)) unknown.push(CHANGE_REQUEST);
  if (unknown.length) {
    const reply = encodeBindingError({ transactionId: msg.transactionId, code: 420, unknownAttributes: unknown, software: STUN_SOFTWARE, fingerprint: true });
    return { reply, viaOther: false, answered: "error_420" };
  }
  const reply = encodeBindingSuccess({ transactionId: msg.transactionId, mapped: from, software: STUN_SOFTWARE, fingerprint: true });
  return { reply, viaOther, answered: "binding" };
}

function answerClassic(bytes: Uint8Array, from: Addr, sockets: StunSockets): StunVerdict {
  let req;
  try {
    req = decodeClassic(bytes);
  } catch (e) {
    return { drop: `stun_classic_${e instanceof StunDecodeError ? e.code.toLowerCase() : "malformed"}` };
  }
  if (!isClassicBindingRequest(req)) return { drop: "stun_classic_not_binding_request" };
  const flags = changeFlags(req.attributes);
  if (flags < 0) return { reply: encodeClassicBindingError({ transactionId: req.transactionId, code: 400 }), viaOther: false, answered: "error_400" };
  const unknown = classicUnknown(req.attributes);
  if (flags !== 0 && !canChange(flags, sockets)) unknown.push(CHANGE_REQUEST);
  if (unknown.length) {
    return { reply: encodeClassicBindingError({ transactionId: req.transactionId, code: 420, unknownAttributes: unknown }), viaOther: false, answered: "error_420" };
  }
  const viaOther = flags !== 0;
  // SOURCE-ADDRESS: the socket the answer leaves from. CHANGED-ADDRESS: the other one (when it has another IP, as RFC 3489 servers do).
  const source = viaOther ? sockets.otherAddr : sockets.self;
  const changed = sockets.other === "other-ip" ? (viaOther ? sockets.self : sockets.otherAddr) : undefined;
  return { reply: encodeClassicBindingResponse({ transactionId: req.transactionId, mapped: from, source, changed }), viaOther, answered: "classic" };
}

/** Can the other socket send what these CHANGE-REQUEST flags ask for? */
function canChange(flags: number, sockets: StunSockets): boolean {
  if (flags === CHANGE_PORT) return sockets.other === "same-ip";
  if (flags === (CHANGE_IP | CHANGE_PORT)) return sockets.other === "other-ip";
  return false; // "change IP" alone needs a third socket (other IP, same port)
}

/** Class bits of the message type (C1 = bit 8, C0 = bit 4) both zero: a request. */
function isRequestHeader(b: Uint8Array): boolean {
  return (b[0]! & 0x01) === 0 && (b[1]! & 0x10) === 0;
}

/** The method bits of the message type: M11..M7 C1 M6..M4 C0 M3..M0. */
function methodOf(b: Uint8Array): number {
  const t = (b[0]! << 8) | b[1]!;
  return (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2);
}

/** 400 Bad Request, in the request's own method. */
function error400(transactionId: Uint8Array, method: number, reason: string): StunVerdict {
  const reply = encodeBindingError({ transactionId, method, code: 400, reason, software: STUN_SOFTWARE, fingerprint: true });
  return { reply, viaOther: false, answered: "error_400" };
}
