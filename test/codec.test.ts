// The datagram codec: known bytes for every message, round trips, the
// classifier, and rejection of garbage with a typed error.
import { describe, expect, test } from "bun:test";
import { create, equals } from "@bufbuild/protobuf";
import { EnvelopeSchema } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { DecodeError } from "../src/errors.ts";
import { classify, decodePacket, encodePacket, MAGIC } from "../src/protocol/packet.ts";
import { samples } from "./fixtures.ts";

// Wire bytes of every sample, as committed. A change here is a protocol change:
// bump the version or keep old decoders working, and update docs/protocol.md.
export const knownHex: Record<string, string> = {
  "Register": "e8485001080152410a05616c69636512100102030405060708090a0b0c0d0e0f101a090a040a0000021088271a150a100000000000000000000000000000000110bb03220468702f31",
  "RegisterAck": "e84850010801a2011a0a05616c696365120a0a04c612000210c0b80218c8df0220904e",
  "Keepalive": "e848500108025a190a05616c69636512100102030405060708090a0b0c0d0e0f10",
  "Unregister": "e848500108036a190a05616c69636512100102030405060708090a0b0c0d0e0f10",
  "KeepaliveAck": "e84850010802aa010c0a0a0a04c612000210c0b802",
  "HolePunchRequest": "e848500108ac0262050a03626f62",
  "HolePunchResponseUnknown": "e848500108ac02b201050a03626f62",
  "HolePunchInitiate": "e8485001ba01370a03626f62120d0a090a04c61200031080081001120d0a090a040a00000310882710021a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf2001",
  "Error": "e84850010807c201090802120574616b656e",
  "Error (unsupported version)": "e8485001c201050804220101",
  "PunchProbe": "e8485001f201190a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf1203626f621801",
  "PunchAck": "e8485001fa011f0a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf10011a090a04c6120003108008",
  "Message": "e848500182021a0a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf10011a0268692001",
  "MessageAck": "e84850018a02140a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf1001",
  "Bye": "e84850019202180a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf1204646f6e65",
};

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ""), "hex"));

function decodeError(b: Uint8Array): DecodeError {
  try {
    decodePacket(b);
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw new Error(`expected a DecodeError, got ${e}`);
  }
  throw new Error(`expected ${hex(b)} to be rejected`);
}

describe("known bytes", () => {
  test("every message type has a row", () => {
    expect(samples.map((s) => s.name).sort()).toEqual(Object.keys(knownHex).sort());
  });
  for (const s of samples) {
    test(`encode ${s.name}`, () => {
      expect(hex(encodePacket(s.body, s.txid))).toBe(knownHex[s.name]!);
    });
    test(`decode ${s.name}`, () => {
      const env = decodePacket(unhex(knownHex[s.name]!));
      const want = create(EnvelopeSchema, { txid: s.txid, body: s.body });
      expect(equals(EnvelopeSchema, env, want)).toBe(true);
    });
  }
});

describe("classify", () => {
  const table: Array<[string, string, ReturnType<typeof classify>]> = [
    ["our prefix", "e8485001", "hp"],
    ["our magic, other version", "e8485002aa", "hp"],
    ["STUN binding request", "000100002112a442" + "00".repeat(12), "stun"],
    ["first byte 0-3 but no cookie", "0001000011223344" + "00".repeat(12), "unknown"],
    ["short STUN-like", "000100002112a442", "unknown"],
    ["DTLS-ish", "16fefd", "unknown"],
    ["magic truncated", "e848", "unknown"],
    ["empty", "", "unknown"],
  ];
  for (const [name, bytes, want] of table) test(name, () => expect(classify(unhex(bytes))).toBe(want));
});

describe("rejects bad input with a typed error", () => {
  const table: Array<[string, Uint8Array, DecodeError["code"]]> = [
    ["empty datagram", new Uint8Array(), "NOT_OURS"],
    ["random text", new TextEncoder().encode("hello"), "NOT_OURS"],
    ["prefix without body", unhex("e8485001"), "INVALID"],
    ["version 2", unhex("e8485002" + knownHex.Register!.slice(8)), "UNSUPPORTED_VERSION"],
    ["version 0", unhex("e8485000"), "UNSUPPORTED_VERSION"],
    ["garbage after the prefix", unhex("e8485001ffffffffffffffffffff"), "MALFORMED"],
    ["truncated Register", unhex(knownHex.Register!.slice(0, 40)), "MALFORMED"],
    ["oversized datagram", new Uint8Array([...MAGIC, 1, ...new Uint8Array(1300)]), "TOO_LARGE"],
    ["token of 15 bytes", encodePacket({ case: "punchProbe", value: { $typeName: "holepunch.v1.PunchProbe", token: new Uint8Array(15), fromName: "a", seq: 1n } }), "INVALID"],
    ["address of 5 bytes", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: { $typeName: "holepunch.v1.Address", ip: new Uint8Array(5), port: 1 } } }), "INVALID"],
    ["port 0", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: { $typeName: "holepunch.v1.Address", ip: new Uint8Array(4), port: 0 } } }), "INVALID"],
    ["missing address", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck" } }), "INVALID"],
    ["Initiate without candidates", encodePacket({ case: "holePunchInitiate", value: { $typeName: "holepunch.v1.HolePunchInitiate", peerName: "x", candidates: [], token: new Uint8Array(16), initiator: false } }), "INVALID"],
    ["Message seq 0", encodePacket({ case: "message", value: { $typeName: "holepunch.v1.Message", token: new Uint8Array(16), seq: 0n, data: new Uint8Array(), last: true } }), "INVALID"],
    ["Register with short instance", encodePacket({ case: "register", value: { $typeName: "holepunch.v1.Register", name: "a", instance: new Uint8Array(3), localAddresses: [], software: "" } }), "INVALID"],
    ["name of 65 bytes", encodePacket({ case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "a".repeat(65) } }), "INVALID"],
  ];
  for (const [name, bytes, code] of table) test(name, () => expect(decodeError(bytes).code).toBe(code));

  test("unknown fields are ignored (forward compatibility)", () => {
    // Field 15 (varint 1) appended inside the envelope: a future version's addition.
    const b = unhex(knownHex.HolePunchRequest! + "7801");
    expect(decodePacket(b).body.case).toBe("holePunchRequest");
  });
});
