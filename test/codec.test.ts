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
  "Register (hello)": "e84850010801525b0a05616c6963651220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1a090a040a0000021088271a150a100000000000000000000000000000000110bb03220468702f317a080000000000000000",
  "Challenge": "e84850010801ca011a0a18808182838485868788898a8b8c8d8e8f9091929394959697",
  "Register (signed)": "e8485001080152b2010a05616c6963651220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1a090a040a0000021088271a150a100000000000000000000000000000000110bb03220468702f312a18808182838485868788898a8b8c8d8e8f90919293949596973240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4a03626f62",
  "Register (additional)": "e8485001080452af010a05616c6963651220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1a090a040a0000021088271a150a100000000000000000000000000000000110bb03220468702f312a18808182838485868788898a8b8c8d8e8f90919293949596973240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4001",
  "Register (0-RTT)": "e8485001080652b9010a05616c6963651220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1a090a040a0000021088271a150a100000000000000000000000000000000110bb03220468702f313240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4a03626f625218606162636465666768696a6b6c6d6e6f70717273747576775880bcd9f29e34",
  "RegisterAck": "e84850010801a2015e0a05616c696365120a0a04c612000210c0b80218c8df0220904e2a100102030405060708090a0b0c0d0e0f1032160a1020010db800000000000000000000000110bab6023a18606162636465666768696a6b6c6d6e6f7071727374757677",
  "RegisterAck (additional)": "e84850010804a201260a05616c69636512160a1020010db800000000000000000000000110bab60218c8df0220904e",
  "Keepalive": "e848500108025a1b0a05616c69636512100102030405060708090a0b0c0d0e0f101801",
  "Keepalive (sequential NAT)": "e848500108055a1d0a05616c69636512100102030405060708090a0b0c0d0e0f1018032003",
  "Unregister": "e848500108036a190a05616c69636512100102030405060708090a0b0c0d0e0f10",
  "KeepaliveAck": "e84850010802aa010c0a0a0a04c612000210c0b802",
  "HolePunchRequest": "e848500108ac0262190a03626f6212100102030405060708090a0b0c0d0e0f101802",
  "HolePunchResponseUnknown": "e848500108ac02b201050a03626f62",
  "HolePunchInitiate": "e8485001ba016f0a03626f62120d0a090a04c61200031080081001120d0a090a040a00000310882710021a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf20012a20404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f3210f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff38014001",
  "RelayData (client to server)": "e8485001722c0a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf12100102030405060708090a0b0c0d0e0f101a06e84850010801",
  "NatProbe": "e848500108097a060a0400000000",
  "NatProbeAck": "e84850010809d201140a0a0a04c612000210c0b80210bbb60218bbb602",
  "NatProbeAck (alternate IP)": "e84850010809d2011a0a0a0a04c612000210c0b80210bab60218bbb6022204c6120009",
  "Error": "e84850010807c201090802120574616b656e",
  "Error (unsupported version)": "e8485001c201050804220101",
  "PunchProbe": "e8485001f2017f0a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf1203626f62180122640a20404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
  "PunchAck": "e8485001fa0197010a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf10011a090a04c612000310800822640a20404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f1240000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f2a10f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
  "Sealed": "e84850019a022c0a10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf100118052214cccccccccccccccccccccccccccccccccccccccc",
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
    ["RFC 3489 request (no cookie, length frames the datagram)", "0001000011223344" + "00".repeat(12), "stun"],
    ["RFC 3489-like, length does not frame the datagram", "0001000411223344" + "00".repeat(12), "unknown"],
    ["first byte 0-3, length not a multiple of 4", "0001000211223344" + "00".repeat(14), "unknown"],
    ["short STUN-like", "000100002112a442", "unknown"],
    ["DTLS-ish", "16fefd", "unknown"],
    ["magic truncated", "e848", "unknown"],
    ["empty", "", "unknown"],
  ];
  for (const [name, bytes, want] of table) test(name, () => expect(classify(unhex(bytes))).toBe(want));
});

describe("rejects bad input with a typed error", () => {
  const probe = (over: Partial<{ token: Uint8Array; ephemeral: Uint8Array; signature: Uint8Array; withHandshake: boolean }>) =>
    encodePacket({
      case: "punchProbe",
      value: {
        $typeName: "holepunch.v1.PunchProbe",
        token: over.token ?? new Uint8Array(16),
        fromName: "a",
        seq: 1n,
        handshake:
          over.withHandshake === false
            ? undefined
            : { $typeName: "holepunch.v1.Handshake", ephemeral: over.ephemeral ?? new Uint8Array(32), signature: over.signature ?? new Uint8Array(64) },
      },
    });
  const addr = (ip: Uint8Array, port: number) => ({ $typeName: "holepunch.v1.Address" as const, ip, port });
  const register = (over: Partial<{ publicKey: Uint8Array; cookie: Uint8Array; signature: Uint8Array }>) =>
    encodePacket({
      case: "register",
      value: {
        $typeName: "holepunch.v1.Register",
        name: "a",
        publicKey: over.publicKey ?? new Uint8Array(32),
        localAddresses: [],
        additional: false,
        connectTo: "",
        addressToken: new Uint8Array(),
        clientTimeMs: 0n,
        software: "",
        cookie: over.cookie ?? new Uint8Array(),
        signature: over.signature ?? new Uint8Array(),
        token: "",
        padding: new Uint8Array(),
      },
    });
  const table: Array<[string, Uint8Array, DecodeError["code"]]> = [
    ["empty datagram", new Uint8Array(), "NOT_OURS"],
    ["random text", new TextEncoder().encode("hello"), "NOT_OURS"],
    ["prefix without body", unhex("e8485001"), "INVALID"],
    ["version 2", unhex("e8485002" + knownHex["Register (hello)"]!.slice(8)), "UNSUPPORTED_VERSION"],
    ["version 0", unhex("e8485000"), "UNSUPPORTED_VERSION"],
    ["garbage after the prefix", unhex("e8485001ffffffffffffffffffff"), "MALFORMED"],
    ["truncated Register", unhex(knownHex["Register (signed)"]!.slice(0, 40)), "MALFORMED"],
    ["oversized datagram", new Uint8Array([...MAGIC, 1, ...new Uint8Array(1300)]), "TOO_LARGE"],
    ["probe with a 15-byte token", probe({ token: new Uint8Array(15) }), "INVALID"],
    ["probe without a handshake", probe({ withHandshake: false }), "INVALID"],
    ["probe with a 31-byte ephemeral", probe({ ephemeral: new Uint8Array(31) }), "INVALID"],
    ["probe with a 63-byte signature", probe({ signature: new Uint8Array(63) }), "INVALID"],
    ["Register with a 31-byte key", register({ publicKey: new Uint8Array(31) }), "INVALID"],
    ["Register with a 23-byte cookie", register({ cookie: new Uint8Array(23), signature: new Uint8Array(64) }), "INVALID"],
    ["Register with a cookie but no signature", register({ cookie: new Uint8Array(24) }), "INVALID"],
    ["address of 5 bytes", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: addr(new Uint8Array(5), 1) } }), "INVALID"],
    ["port 0", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: addr(new Uint8Array(4), 0) } }), "INVALID"],
    ["missing address", encodePacket({ case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck" } }), "INVALID"],
    [
      "Initiate without candidates",
      encodePacket({
        case: "holePunchInitiate",
        value: { $typeName: "holepunch.v1.HolePunchInitiate", peerName: "x", candidates: [], token: new Uint8Array(16), initiator: false, peerKey: new Uint8Array(32), auth: new Uint8Array(16), relay: false, peerMapping: 0, peerPortStep: 0 },
      }),
      "INVALID",
    ],
    ["Keepalive with a short secret", encodePacket({ case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: "a", secret: new Uint8Array(3), mapping: 0, portStep: 0 } }), "INVALID"],
    ["Sealed shorter than its tag", encodePacket({ case: "sealed", value: { $typeName: "holepunch.v1.Sealed", token: new Uint8Array(16), epoch: 0, counter: 0n, ciphertext: new Uint8Array(15) } }), "INVALID"],
    ["name of 65 bytes", encodePacket({ case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "a".repeat(65), secret: new Uint8Array(16), mapping: 0, portStep: 0 } }), "INVALID"],
  ];
  for (const [name, bytes, code] of table) test(name, () => expect(decodeError(bytes).code).toBe(code));

  test("unknown fields are ignored (forward compatibility)", () => {
    // Field 100 (varint 1) appended inside the envelope: a future version's addition.
    const b = unhex(knownHex.HolePunchRequest! + "a00601");
    expect(decodePacket(b).body.case).toBe("holePunchRequest");
  });
});
