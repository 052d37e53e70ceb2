// Codec throughput: encode + decode round trips per second, in process.
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";

function rate(body: Body, ms = 1000): number {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) decodePacket(encodePacket(body, 12345n));
    n += 1000;
  }
  return (n / ms) * 1000;
}

export function benchCodec(): Array<[string, string]> {
  const token = new Uint8Array(16).fill(7);
  const request: Body = { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "alice" } };
  const message: Body = {
    case: "message",
    value: { $typeName: "holepunch.v1.Message", token, seq: 42n, data: new Uint8Array(1000), last: true },
  };
  rate(request, 200); // warm up
  return [
    ["codec: HolePunchRequest encode+decode", `${Math.round(rate(request) / 1000)}k/s`],
    ["codec: Message (1000 B) encode+decode", `${Math.round(rate(message) / 1000)}k/s`],
  ];
}
