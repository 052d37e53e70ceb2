// Codec and crypto throughput, in process: encode + decode round trips, and
// AES-256-GCM seal + open of a full chat chunk (what a session does per packet).
import { SessionCipher } from "../../src/crypto/session-cipher.ts";
import { decodePacket, encodePacket, type Body } from "../../src/protocol/packet.ts";

function rate(fn: () => void, ms = 1000): number {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
  }
  return (n / ms) * 1000;
}

export function benchCodec(): Array<[string, string]> {
  const token = new Uint8Array(16).fill(7);
  const request: Body = { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "alice", secret: token, mapping: 0, portStep: 0 } };
  const sealed: Body = { case: "sealed", value: { $typeName: "holepunch.v1.Sealed", token, epoch: 0, counter: 42n, ciphertext: new Uint8Array(1030) } };
  const keys = { send: new Uint8Array(32).fill(1), recv: new Uint8Array(32).fill(1) };
  const a = new SessionCipher(keys, token, () => 0);
  const b = new SessionCipher(keys, token, () => 0);
  const chunk = new Uint8Array(1000);
  const roundTrip = (body: Body) => () => void decodePacket(encodePacket(body, 12345n));
  rate(roundTrip(request), 200); // warm up
  return [
    ["codec: HolePunchRequest encode+decode", `${Math.round(rate(roundTrip(request)) / 1000)}k/s`],
    ["codec: Sealed (1030 B) encode+decode", `${Math.round(rate(roundTrip(sealed)) / 1000)}k/s`],
    ["crypto: AES-256-GCM seal+open of 1000 B", `${Math.round(rate(() => void b.open(a.seal(chunk))) / 1000)}k/s`],
  ];
}
