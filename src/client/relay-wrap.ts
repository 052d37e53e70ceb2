// Peer datagrams through the server's relay (protocol §4.7): wrapped whole in
// RelayData{token, secret, payload} to the server; what comes back is
// unwrapped and must be a PunchProbe, PunchAck or Sealed of the same attempt.
// Pure functions over bytes.
import type { Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { decodePacket, encodePacket, type Body } from "../protocol/packet.ts";

/** The datagram to the server that carries `body` to the other peer of attempt `token`. */
export function wrapForRelay(token: Uint8Array, secret: Uint8Array, body: Body): Uint8Array {
  const payload = encodePacket(body);
  return encodePacket({ case: "relayData", value: { $typeName: "holepunch.v1.RelayData", token, secret, payload } });
}

/** A relayed payload for attempt `token`: the peer datagram inside, or undefined if it is not one (`relay_bad_payload`). */
export function unwrapRelayed(token: Uint8Array, payload: Uint8Array): Envelope | undefined {
  let inner: Envelope;
  try {
    inner = decodePacket(payload);
  } catch {
    return undefined;
  }
  const b = inner.body;
  if (b.case !== "punchProbe" && b.case !== "punchAck" && b.case !== "sealed") return undefined;
  return equalBytes(b.value.token, token) ? inner : undefined;
}
