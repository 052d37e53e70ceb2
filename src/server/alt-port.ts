// The alternate (NAT-discovery) port: it answers NatProbe with the address
// it saw, never with more bytes than it received, and nothing else. Pure.
import { decodePacket, encodePacket } from "../protocol/packet.ts";
import { toWireAddress } from "../protocol/wire-address.ts";
import { ipToBytes, type Addr } from "../net/address.ts";

export type AltVerdict = { reply: Uint8Array } | { drop: "alt_not_nat_probe" | "amplification_guard" };

export function answerAltPort(bytes: Uint8Array, from: Addr, altPort: number, altIp?: string): AltVerdict {
  let env;
  try {
    env = decodePacket(bytes);
  } catch {
    return { drop: "alt_not_nat_probe" };
  }
  if (env.body.case !== "natProbe") return { drop: "alt_not_nat_probe" };
  const reply = encodePacket(
    {
      case: "natProbeAck",
      value: { $typeName: "holepunch.v1.NatProbeAck", observed: toWireAddress(from), serverPort: altPort, altPort, altIp: altIp ? ipToBytes(altIp) : new Uint8Array() },
    },
    env.txid,
  );
  return reply.length > bytes.length ? { drop: "amplification_guard" } : { reply };
}
