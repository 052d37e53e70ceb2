// The STUN codec: RFC 5769 vectors as literal bytes, known bytes of our
// encoders, round trips, a rejection table with stable codes, and seeded fuzzing.
import { describe, expect, test } from "bun:test";
import {
  BINDING, checkMessageIntegrity, decodeStun, encodeBindingError, encodeBindingRequest, encodeBindingSuccess, encodeStun,
  ERROR_CODE, FINGERPRINT, hasFingerprint, ICE_CONTROLLED, isStunPacket, longTermKey, MESSAGE_INTEGRITY,
  MESSAGE_INTEGRITY_SHA256, messageType, newTransactionId, NONCE, PRIORITY, readErrorCode, readMappedAddress, readSoftware,
  readText, readUnknownAttributes, REALM, shortTermKey, SOFTWARE, StunDecodeError, StunEncodeError, unknownComprehensionRequired,
  USERNAME, XOR_MAPPED_ADDRESS, type StunClass,
} from "../src/stun/codec.ts";
import { prng } from "./support/prng.ts";
import { BindingResponder, isBareBindingRequest } from "../src/stun/fast-binding.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s|\/\/[^\n]*/g, ""), "hex"));

// ---- RFC 5769 test vectors, byte for byte (comments as in the RFC) ----
const RFC_PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt";
const RFC_TXID = "b7e7a701bc34d686fa87dfae";

/** §2.1 Sample Request: ICE-style Binding request, short-term credentials. */
const sampleRequest = unhex(`
  00 01 00 58  // Request type and message length
  21 12 a4 42  // Magic cookie
  b7 e7 a7 01 bc 34 d6 86 fa 87 df ae  // Transaction ID
  80 22 00 10  // SOFTWARE attribute header
  53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74  // "STUN test client"
  00 24 00 04  // PRIORITY attribute header
  6e 00 01 ff  // ICE priority value
  80 29 00 08  // ICE-CONTROLLED attribute header
  93 2f f9 b1 51 26 3b 36  // Pseudo-random tie breaker
  00 06 00 09  // USERNAME attribute header
  65 76 74 6a 3a 68 36 76 59 20 20 20  // "evtj:h6vY" and padding (0x20, not 0)
  00 08 00 14  // MESSAGE-INTEGRITY attribute header
  9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2  // HMAC-SHA1
  80 28 00 04  // FINGERPRINT attribute header
  e5 7a 3b cf  // CRC32 fingerprint
`);

/** §2.2 Sample IPv4 Response. */
const ipv4Response = unhex(`
  01 01 00 3c  // Response type and message length
  21 12 a4 42  // Magic cookie
  b7 e7 a7 01 bc 34 d6 86 fa 87 df ae  // Transaction ID
  80 22 00 0b  // SOFTWARE attribute header
  74 65 73 74 20 76 65 63 74 6f 72 20  // "test vector" and one padding byte 0x20
  00 20 00 08  // XOR-MAPPED-ADDRESS attribute header
  00 01 a1 47  // Address family (IPv4) and xor'd mapped port number
  e1 12 a6 43  // Xor'd mapped IPv4 address
  00 08 00 14  // MESSAGE-INTEGRITY attribute header
  2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7  // HMAC-SHA1
  80 28 00 04  // FINGERPRINT attribute header
  c0 7d 4c 96  // CRC32 fingerprint
`);

/** §2.3 Sample IPv6 Response. */
const ipv6Response = unhex(`
  01 01 00 48  // Response type and message length
  21 12 a4 42  // Magic cookie
  b7 e7 a7 01 bc 34 d6 86 fa 87 df ae  // Transaction ID
  80 22 00 0b  // SOFTWARE attribute header
  74 65 73 74 20 76 65 63 74 6f 72 20  // "test vector" and padding
  00 20 00 14  // XOR-MAPPED-ADDRESS attribute header
  00 02 a1 47  // Address family (IPv6) and xor'd mapped port number
  01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9  // Xor'd mapped IPv6 address
  00 08 00 14  // MESSAGE-INTEGRITY attribute header
  a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41  // HMAC-SHA1
  80 28 00 04  // FINGERPRINT attribute header
  c8 fb 0b 4c  // CRC32 fingerprint
`);

/** §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT). */
const longTermRequest = unhex(`
  00 01 00 60  // Request type and message length
  21 12 a4 42  // Magic cookie
  78 ad 34 33 c6 ad 72 c0 29 da 41 2e  // Transaction ID
  00 06 00 12  // USERNAME attribute header
  e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00  // "マトリックス" and padding
  00 15 00 1c  // NONCE attribute header
  66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41  // Nonce
  00 14 00 0b  // REALM attribute header
  65 78 61 6d 70 6c 65 2e 6f 72 67 00  // "example.org" and padding
  00 08 00 14  // MESSAGE-INTEGRITY attribute header
  f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66  // HMAC-SHA1
`);
// The RFC's password is "The<U+00AD>M<U+00AA>tr<U+2168>"; SASLprep makes it "TheMatrIX".
const LONG_TERM_KEY = longTermKey("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", "example.org", "TheMatrIX");

const vectors = { sampleRequest, ipv4Response, ipv6Response, longTermRequest };

describe("RFC 5769 test vectors", () => {
  test("Bun.hash.crc32 is the standard CRC-32 (check value of \"123456789\")", () => {
    expect(Bun.hash.crc32("123456789")).toBe(0xcbf43926);
  });

  test("every vector is STUN by the header check", () => {
    for (const b of Object.values(vectors)) expect(isStunPacket(b)).toBe(true);
  });

  test("2.1 sample request", () => {
    const m = decodeStun(sampleRequest);
    expect([m.method, m.cls, hex(m.transactionId)]).toEqual([BINDING, "request", RFC_TXID]);
    expect(m.attributes.map((a) => [a.type, a.offset])).toEqual([
      [SOFTWARE, 20], [PRIORITY, 40], [ICE_CONTROLLED, 48], [USERNAME, 60], [MESSAGE_INTEGRITY, 76], [FINGERPRINT, 100],
    ]);
    expect(readSoftware(m)).toBe("STUN test client");
    expect(readText(m, USERNAME)).toBe("evtj:h6vY"); // padding 0x20 is not part of the value
    expect(hasFingerprint(m)).toBe(true);
    expect(checkMessageIntegrity(m, sampleRequest, shortTermKey(RFC_PASSWORD))).toBe(true);
    expect(checkMessageIntegrity(m, sampleRequest, shortTermKey(RFC_PASSWORD + "x"))).toBe(false);
    expect(unknownComprehensionRequired(m)).toEqual([]); // ICE's PRIORITY is known: no 420 for ICE checks
  });

  test("2.2 IPv4 response", () => {
    const m = decodeStun(ipv4Response);
    expect([m.method, m.cls, hex(m.transactionId)]).toEqual([BINDING, "success", RFC_TXID]);
    expect(readMappedAddress(m)).toEqual({ ip: "192.0.2.1", port: 32853 });
    expect(readSoftware(m)).toBe("test vector");
    expect(hasFingerprint(m)).toBe(true);
    expect(checkMessageIntegrity(m, ipv4Response, shortTermKey(RFC_PASSWORD))).toBe(true);
  });

  test("2.3 IPv6 response", () => {
    const m = decodeStun(ipv6Response);
    expect(m.cls).toBe("success");
    expect(readMappedAddress(m)).toEqual({ ip: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 });
    expect(checkMessageIntegrity(m, ipv6Response, shortTermKey(RFC_PASSWORD))).toBe(true);
  });

  test("2.4 long-term authentication request", () => {
    const m = decodeStun(longTermRequest);
    expect([m.cls, hex(m.transactionId)]).toEqual(["request", "78ad3433c6ad72c029da412e"]);
    expect(readText(m, USERNAME)).toBe("マトリックス");
    expect(readText(m, NONCE)).toBe("f//499k954d6OL34oL9FSTvy64sA");
    expect(readText(m, REALM)).toBe("example.org");
    expect(hasFingerprint(m)).toBe(false);
    expect(checkMessageIntegrity(m, longTermRequest, LONG_TERM_KEY)).toBe(true);
    expect(checkMessageIntegrity(m, longTermRequest, shortTermKey("TheMatrIX"))).toBe(false);
  });

  test("2.4 re-encodes byte for byte (its padding is zero)", () => {
    const m = decodeStun(longTermRequest);
    const attributes = m.attributes.filter((a) => a.type !== MESSAGE_INTEGRITY);
    const again = encodeStun({ method: m.method, cls: m.cls, transactionId: m.transactionId, attributes, integrityKey: LONG_TERM_KEY });
    expect(hex(again)).toBe(hex(longTermRequest));
  });
});

// ---- our encoders: known bytes (checked against an independent encoder) ----
const TXID = unhex("000102030405060708090a0b");
const knownBytes: Array<{ name: string; encode: () => Uint8Array; hex: string }> = [
  { name: "Binding request", encode: () => encodeBindingRequest({ transactionId: TXID }), hex: "000100002112a442000102030405060708090a0b" },
  {
    name: "Binding request, SOFTWARE + FINGERPRINT",
    encode: () => encodeBindingRequest({ transactionId: TXID, software: "hole-punch", fingerprint: true }),
    hex: "000100182112a442000102030405060708090a0b8022000a686f6c652d70756e636800008028000443737bdb",
  },
  {
    name: "Binding request, USERNAME + MESSAGE-INTEGRITY + FINGERPRINT",
    encode: () =>
      encodeStun({
        method: BINDING, cls: "request", transactionId: TXID, integrityKey: shortTermKey(RFC_PASSWORD), fingerprint: true,
        attributes: [{ type: USERNAME, value: new TextEncoder().encode("evtj:h6vY") }],
      }),
    hex: "000100302112a442000102030405060708090a0b000600096576746a3a68367659000000000800140891361397dffe1b480afd5c9b3fbe9bbe37209780280004ac87f708",
  },
  {
    name: "Binding success, IPv4",
    encode: () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "192.0.2.1", port: 32853 } }),
    hex: "0101000c2112a442000102030405060708090a0b002000080001a147e112a643",
  },
  {
    name: "Binding success, IPv6 + SOFTWARE + FINGERPRINT",
    encode: () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "2001:db8::1", port: 443 }, software: "hp", fingerprint: true }),
    hex: "010100282112a442000102030405060708090a0b00200014000220a90113a9fa000102030405060708090a0a8022000268700000802800041f1752d0",
  },
  {
    name: "Binding error 400",
    encode: () => encodeBindingError({ transactionId: TXID, code: 400 }),
    hex: "011100142112a442000102030405060708090a0b0009000f00000400426164205265717565737400",
  },
  {
    name: "Binding error 420 with UNKNOWN-ATTRIBUTES (padded) + FINGERPRINT",
    encode: () => encodeBindingError({ transactionId: TXID, code: 420, reason: "Unknown Attribute", unknownAttributes: [0x0003, 0x7fff, 0x0030], fingerprint: true }),
    hex: "011100302112a442000102030405060708090a0b0009001500000414556e6b6e6f776e20417474726962757465000000000a000600037fff0030000080280004584a62f6",
  },
];

describe("encoders: known bytes", () => {
  for (const row of knownBytes) {
    test(row.name, () => {
      const b = row.encode();
      expect(hex(b)).toBe(row.hex);
      expect(isStunPacket(b)).toBe(true);
      decodeStun(b); // and our decoder accepts it (FINGERPRINT included)
    });
  }
});

describe("encoders: round trips", () => {
  test("message type bits for every class", () => {
    const table: Array<[StunClass, number]> = [["request", 0x0001], ["indication", 0x0011], ["success", 0x0101], ["error", 0x0111]];
    for (const [cls, type] of table) expect(messageType(BINDING, cls)).toBe(type);
    for (const method of [0, 1, 0x00f, 0x010, 0x07f, 0x080, 0x0ab, 0x0ff]) {
      for (const [cls] of table) {
        const m = decodeStun(encodeStun({ method, cls, transactionId: TXID }));
        expect([m.method, m.cls]).toEqual([method, cls]);
      }
    }
  });

  test("success: mapped addresses come back normalised", () => {
    const table: Array<[string, number, string]> = [
      ["192.0.2.1", 32853, "192.0.2.1"],
      ["0.0.0.0", 0, "0.0.0.0"],
      ["255.255.255.255", 65535, "255.255.255.255"],
      ["2001:DB8:0:0:0:0:0:1", 1, "2001:db8::1"],
      ["::1", 9, "::1"],
      ["::ffff:198.51.100.7", 5, "198.51.100.7"], // IPv4-mapped goes out as IPv4
      ["2001:db8:1234:5678:11:2233:4455:6677", 32853, "2001:db8:1234:5678:11:2233:4455:6677"],
    ];
    for (const [ip, port, want] of table) {
      const txid = newTransactionId();
      const b = encodeBindingSuccess({ transactionId: txid, mapped: { ip, port }, fingerprint: true });
      const m = decodeStun(b);
      expect(m.transactionId).toEqual(txid);
      expect(readMappedAddress(m)).toEqual({ ip: want, port });
    }
  });

  test("MAPPED-ADDRESS is the fallback, XOR-MAPPED-ADDRESS wins when both are present", () => {
    const plain = { type: 0x0001, value: unhex("0001 1234 0a000001") };
    const xored = decodeStun(encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "192.0.2.1", port: 7 } })).attributes[0]!;
    const read = (attributes: Array<{ type: number; value: Uint8Array }>) =>
      readMappedAddress(decodeStun(encodeStun({ method: BINDING, cls: "success", transactionId: TXID, attributes })));
    expect(read([plain])).toEqual({ ip: "10.0.0.1", port: 0x1234 });
    expect(read([plain, xored])).toEqual({ ip: "192.0.2.1", port: 7 });
    expect(read([])).toBeUndefined();
  });

  test("error: code, reason, unknown attributes", () => {
    const m = decodeStun(encodeBindingError({ transactionId: TXID, code: 420, unknownAttributes: [0x0003], software: "hp" }));
    expect(m.cls).toBe("error");
    expect(readErrorCode(m)).toEqual({ code: 420, reason: "Unknown Attribute" });
    expect(readUnknownAttributes(m)).toEqual([0x0003]);
    expect(readSoftware(m)).toBe("hp");
    for (const code of [300, 401, 438, 500, 699]) {
      expect(readErrorCode(decodeStun(encodeBindingError({ transactionId: TXID, code, reason: "ünïcode" })))).toEqual({ code, reason: "ünïcode" });
    }
  });

  test("MESSAGE-INTEGRITY with FINGERPRINT after it still checks", () => {
    const key = shortTermKey("secret");
    const b = encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "192.0.2.1", port: 1 }, integrityKey: key, fingerprint: true });
    const m = decodeStun(b);
    expect(checkMessageIntegrity(m, b, key)).toBe(true);
    expect(checkMessageIntegrity(m, b, shortTermKey("Secret"))).toBe(false);
    expect(checkMessageIntegrity(decodeStun(encodeBindingRequest({ transactionId: TXID })), b, key)).toBe(false); // none present
  });

  test("the encoders' first attribute is the one asked for", () => {
    expect(decodeStun(encodeBindingError({ transactionId: TXID, code: 400 })).attributes[0]?.type).toBe(ERROR_CODE);
    expect(decodeStun(encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "1.2.3.4", port: 1 } })).attributes[0]?.type).toBe(XOR_MAPPED_ADDRESS);
  });

  test("newTransactionId: 12 random bytes", () => {
    const a = newTransactionId();
    expect(a.length).toBe(12);
    expect(hex(a)).not.toBe(hex(newTransactionId()));
  });

  test("encoder misuse throws StunEncodeError with a code", () => {
    const table: Array<[string, () => unknown, StunEncodeError["code"]]> = [
      ["11-byte transaction id", () => encodeBindingRequest({ transactionId: new Uint8Array(11) }), "BAD_TRANSACTION_ID"],
      ["method 0x100 (first byte would exceed 3)", () => encodeStun({ method: 0x100, cls: "request", transactionId: TXID }), "BAD_METHOD"],
      ["hostname", () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "example.org", port: 1 } }), "BAD_ADDRESS"],
      ["octet 256", () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "1.2.3.256", port: 1 } }), "BAD_ADDRESS"],
      ["five octets", () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "1.2.3.4.5", port: 1 } }), "BAD_ADDRESS"],
      ["port 65536", () => encodeBindingSuccess({ transactionId: TXID, mapped: { ip: "1.2.3.4", port: 65536 } }), "BAD_ADDRESS"],
      ["error 299", () => encodeBindingError({ transactionId: TXID, code: 299 }), "BAD_ERROR_CODE"],
      ["error 700", () => encodeBindingError({ transactionId: TXID, code: 700 }), "BAD_ERROR_CODE"],
      ["SOFTWARE of 510 bytes", () => encodeBindingRequest({ transactionId: TXID, software: "x".repeat(510) }), "TOO_LONG"],
      ["value of 65536 bytes", () => encodeStun({ method: 1, cls: "request", transactionId: TXID, attributes: [{ type: 0x8fff, value: new Uint8Array(65536) }] }), "TOO_LONG"],
    ];
    for (const [name, run, code] of table) {
      let got: unknown;
      try {
        run();
      } catch (e) {
        got = e;
      }
      expect([name, (got as StunEncodeError | undefined)?.code]).toEqual([name, code]);
      expect(got).toBeInstanceOf(StunEncodeError);
    }
  });
});

// ---- decoding: what is accepted, what is rejected and why ----

/** A message of the given type (default Binding request) whose length field matches `body` unless told otherwise. */
function stun(body: string, o: { type?: string; length?: number; cookie?: string } = {}): Uint8Array {
  const b = unhex(body);
  const length = (o.length ?? b.length).toString(16).padStart(4, "0");
  return unhex((o.type ?? "0001") + length + (o.cookie ?? "2112a442") + RFC_TXID + body);
}
/** `b` with bytes appended to the body, and the length field updated. */
function append(b: Uint8Array, more: string): Uint8Array {
  return stun(hex(b.subarray(20)) + more, { type: hex(b.subarray(0, 2)) });
}
function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at]! ^= 0x01;
  return c;
}

function decodeError(b: Uint8Array): StunDecodeError {
  try {
    decodeStun(b);
  } catch (e) {
    if (e instanceof StunDecodeError) return e;
    throw new Error(`expected a StunDecodeError, got ${e}`);
  }
  throw new Error(`expected ${hex(b)} to be rejected`);
}

describe("decode: accepted", () => {
  test("padding may hold anything", () => {
    const m = decodeStun(stun("80220001 41ffffff 00060002 6869eeee"));
    expect([readSoftware(m), readText(m, USERNAME)]).toEqual(["A", "hi"]);
  });

  test("attributes after MESSAGE-INTEGRITY are ignored, except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT", () => {
    const mi = "00080014" + "00".repeat(20);
    const sha = "001c0020" + "00".repeat(32);
    const after = stun("00060001 61000000" + mi + "00030004 00000000" + "80220001 78000000");
    expect(decodeStun(after).attributes.map((a) => a.type)).toEqual([USERNAME, MESSAGE_INTEGRITY]);
    // The same with a FINGERPRINT at the end: it still counts, and is checked.
    const raw = [[USERNAME, "61"], [MESSAGE_INTEGRITY, "00".repeat(20)], [0x0003, "00000000"], [SOFTWARE, "78"]] as const;
    const attributes = raw.map(([type, value]) => ({ type, value: unhex(value) }));
    const withFp = encodeStun({ method: BINDING, cls: "request", transactionId: TXID, attributes, fingerprint: true });
    expect(decodeStun(withFp).attributes.map((a) => a.type)).toEqual([USERNAME, MESSAGE_INTEGRITY, FINGERPRINT]);
    expect(decodeError(flip(withFp, withFp.length - 1)).code).toBe("BAD_FINGERPRINT");
    const m = decodeStun(stun(mi + sha + mi + "00030000"));
    expect(m.attributes.map((a) => a.type)).toEqual([MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256]);
    expect(unknownComprehensionRequired(m)).toEqual([]); // the ignored 0x0003 does not earn a 420
    expect(decodeStun(stun(sha + mi)).attributes.map((a) => a.type)).toEqual([MESSAGE_INTEGRITY_SHA256]);
  });

  test("unknownComprehensionRequired lists unknown 0x0000-0x7FFF types once each", () => {
    const m = decodeStun(stun("00030004 00000000 7fff0000 8fff0000 00030000 00240004 00000001"));
    expect(unknownComprehensionRequired(m)).toEqual([0x0003, 0x7fff]);
  });

  test("duplicates: the first counts", () => {
    const m = decodeStun(stun("80220001 61000000 80220001 62000000"));
    expect(readSoftware(m)).toBe("a");
  });

  test("readers on a message without the attribute", () => {
    const m = decodeStun(stun(""));
    expect([readMappedAddress(m), readSoftware(m), readErrorCode(m), readUnknownAttributes(m), hasFingerprint(m)]).toEqual([
      undefined, undefined, undefined, undefined, false,
    ]);
  });
});

describe("decode: rejected with a stable code", () => {
  const fpAt = sampleRequest.length - 4;
  const table: Array<[string, Uint8Array, StunDecodeError["code"]]> = [
    ["empty datagram", new Uint8Array(), "TRUNCATED"],
    ["header cut at 19 bytes", sampleRequest.subarray(0, 19), "TRUNCATED"],
    ["first byte 0x40 (TURN channel)", unhex("40000000" + "00".repeat(16)), "NOT_STUN"],
    ["our own datagram (0xE8)", unhex("e8485001" + "00".repeat(16)), "NOT_STUN"],
    ["wrong magic cookie", stun("", { cookie: "2112a443" }), "NOT_STUN"],
    ["RFC 3489 (no cookie)", stun("", { cookie: "00000000" }), "NOT_STUN"],
    ["length not a multiple of 4", stun("00000000", { length: 3 }), "BAD_LENGTH"],
    ["length beyond the datagram", stun("80220000", { length: 8 }), "TRUNCATED"],
    ["vector cut short", sampleRequest.subarray(0, sampleRequest.length - 4), "TRUNCATED"],
    ["bytes after the message", stun("80220000", { length: 0 }), "BAD_LENGTH"],
    ["attribute overruns the message", stun("80220008 41414141"), "BAD_ATTRIBUTE"],
    ["value runs into missing padding", stun("80220005 41414141"), "BAD_ATTRIBUTE"],
    ["vector with USERNAME length 0xff", (() => { const b = sampleRequest.slice(); b[63] = 0xff; return b; })(), "BAD_ATTRIBUTE"],
    ["FINGERPRINT value wrong", flip(sampleRequest, fpAt + 3), "BAD_FINGERPRINT"],
    ["a SOFTWARE byte changed under FINGERPRINT", flip(sampleRequest, 24), "BAD_FINGERPRINT"],
    ["a padding byte changed under FINGERPRINT", flip(sampleRequest, 73), "BAD_FINGERPRINT"],
    ["FINGERPRINT not last", append(sampleRequest, "80220000"), "FINGERPRINT_NOT_LAST"],
    ["two FINGERPRINTs", append(sampleRequest, hex(sampleRequest.subarray(fpAt - 4))), "FINGERPRINT_NOT_LAST"],
    ["FINGERPRINT of 8 bytes", stun("80280008 0000000000000000"), "BAD_ATTRIBUTE"],
    ["MESSAGE-INTEGRITY of 16 bytes", stun("00080010" + "00".repeat(16)), "BAD_ATTRIBUTE"],
    ["XOR-MAPPED-ADDRESS family 3", stun("00200008 0003a147 e112a643"), "BAD_ATTRIBUTE"],
    ["XOR-MAPPED-ADDRESS IPv4 with 16 bytes", stun("00200014 0001a147" + "00".repeat(16)), "BAD_ATTRIBUTE"],
    ["MAPPED-ADDRESS cut short", stun("00010004 00010001"), "BAD_ATTRIBUTE"],
    ["ERROR-CODE class 7", stun("00090004 00000700", { type: "0111" }), "BAD_ATTRIBUTE"],
    ["ERROR-CODE number 100", stun("00090004 00000464", { type: "0111" }), "BAD_ATTRIBUTE"],
    ["UNKNOWN-ATTRIBUTES of odd length", stun("000a0003 00030000", { type: "0111" }), "BAD_ATTRIBUTE"],
    ["USE-CANDIDATE with a value", stun("00250004 00000000"), "BAD_ATTRIBUTE"],
    ["PRIORITY of 2 bytes", stun("00240002 00010000"), "BAD_ATTRIBUTE"],
    ["SOFTWARE of 764 bytes", stun("802202fc" + "41".repeat(764)), "BAD_ATTRIBUTE"],
  ];
  for (const [name, bytes, code] of table) test(name, () => expect(decodeError(bytes).code).toBe(code));

  test("the attribute at fault is named", () => {
    expect(decodeError(stun("00250004 00000000")).attribute).toBe(0x0025);
  });

  test("isStunPacket agrees on header-level faults", () => {
    for (const [, bytes, code] of table) {
      if (code === "NOT_STUN" || code === "TRUNCATED" || code === "BAD_LENGTH") expect(isStunPacket(bytes)).toBe(false);
    }
  });
});

// ---- seeded fuzzing ----
const ROUNDS = 30_000;

function mutate(seed: Uint8Array, rnd: () => number): Uint8Array {
  const b = Array.from(seed);
  const pick = () => Math.floor(rnd() * b.length);
  for (let ops = 1 + Math.floor(rnd() * 4); ops > 0; ops--) {
    switch (Math.floor(rnd() * 5)) {
      case 0: // flip a bit
        if (b.length) b[pick()]! ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // truncate
        b.length = pick();
        break;
      case 2: // insert random bytes
        b.splice(pick(), 0, ...Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256)));
        break;
      case 3: // an edge value, often in an attribute length field
        if (b.length) b[pick()] = [0, 0x03, 0x7f, 0x80, 0xff][Math.floor(rnd() * 5)]!;
        break;
      case 4: // duplicate a slice
        b.splice(pick(), 0, ...b.slice(pick(), pick()));
        break;
    }
  }
  // Half the time, repair the header so the attribute walk is what gets tested.
  if (b.length >= 20 && rnd() < 0.5) {
    const length = (b.length - 20) & ~3;
    b.length = 20 + length;
    [b[0], b[2], b[3], b[4], b[5], b[6], b[7]] = [b[0]! & 3, length >> 8, length & 0xff, 0x21, 0x12, 0xa4, 0x42];
  }
  return Uint8Array.from(b);
}

/** Decodes; on success every reader must run without throwing. Anything but StunDecodeError fails the test. */
function probe(b: Uint8Array): boolean {
  try {
    const m = decodeStun(b);
    expect(isStunPacket(b)).toBe(true);
    void [readMappedAddress(m), readSoftware(m), readErrorCode(m), readUnknownAttributes(m), unknownComprehensionRequired(m), hasFingerprint(m)];
    checkMessageIntegrity(m, b, shortTermKey(RFC_PASSWORD));
    return true;
  } catch (e) {
    if (!(e instanceof StunDecodeError)) throw new Error(`${hex(b)}: ${e}`);
    return false;
  }
}

describe("fuzz", () => {
  test(`${ROUNDS.toLocaleString("en")} random datagrams, half with a valid header: typed errors only`, () => {
    const rnd = prng(8489);
    let decoded = 0;
    for (let i = 0; i < ROUNDS; i++) {
      let b = new Uint8Array(Math.floor(rnd() * 120));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      if (b.length >= 20 && rnd() < 0.5) {
        b = b.subarray(0, 20 + ((b.length - 20) & ~3));
        b.set(stun("", { length: b.length - 20 }).subarray(0, 8)); // type, length, cookie
      }
      if (probe(b)) decoded++;
    }
    expect(decoded).toBeGreaterThan(0);
  });

  test(`${ROUNDS.toLocaleString("en")} mutations of the vectors and our messages: typed errors only`, () => {
    const rnd = prng(5769);
    const stripFp = (b: Uint8Array) => stun(hex(b.subarray(20, b.length - 8)), { type: hex(b.subarray(0, 2)) });
    const seeds = [...Object.values(vectors), stripFp(sampleRequest), stripFp(ipv6Response), ...knownBytes.map((r) => r.encode())];
    let decoded = 0;
    for (let i = 0; i < ROUNDS; i++) if (probe(mutate(seeds[i % seeds.length]!, rnd))) decoded++;
    expect(decoded).toBeGreaterThan(ROUNDS / 100);
  });

  test(`${(ROUNDS / 3).toLocaleString("en")} random messages round-trip`, () => {
    const rnd = prng(7983);
    const classes: StunClass[] = ["request", "indication", "success", "error"];
    const int = (n: number) => Math.floor(rnd() * n);
    for (let i = 0; i < ROUNDS / 3; i++) {
      // Unknown comprehension-optional types carry any value; known ones are validated.
      const attributes = Array.from({ length: int(5) }, () => ({
        type: 0x8100 + int(0x7e00),
        value: Uint8Array.from({ length: int(40) }, () => int(256)),
      }));
      const init = { method: int(0x100), cls: classes[int(4)]!, transactionId: newTransactionId(), attributes, fingerprint: rnd() < 0.5 };
      const m = decodeStun(encodeStun(rnd() < 0.5 ? init : { ...init, software: "sw".repeat(int(20)) }));
      expect([m.method, m.cls, hex(m.transactionId)]).toEqual([init.method, init.cls, hex(init.transactionId)]);
      expect(m.attributes.slice(0, attributes.length).map((a) => [a.type, hex(a.value)])).toEqual(attributes.map((a) => [a.type, hex(a.value)]));
      expect(hasFingerprint(m)).toBe(init.fingerprint);
    }
  });
});

describe("fast path for bare Binding requests (server hot path)", () => {
  const responder = new BindingResponder("hole-punch/0.1.0");
  const txid = Uint8Array.from({ length: 12 }, (_, i) => 0xb0 + i);
  const bare = encodeBindingRequest({ transactionId: txid });
  for (const mapped of [{ ip: "192.0.2.1", port: 32853 }, { ip: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 }, { ip: "::ffff:198.51.100.9", port: 1 }]) {
    test(`same bytes as encodeBindingSuccess for ${mapped.ip}`, () => {
      expect(hex(responder.respond(bare, mapped))).toBe(hex(encodeBindingSuccess({ transactionId: txid, mapped, software: "hole-punch/0.1.0", fingerprint: true })));
    });
  }
  test("only bare requests qualify", () => {
    expect(isBareBindingRequest(bare)).toBe(true);
    expect(isBareBindingRequest(encodeBindingRequest({ transactionId: txid, fingerprint: true }))).toBe(false);
    const indication = bare.slice();
    indication[1] = 0x11;
    expect(isBareBindingRequest(indication)).toBe(false);
    const noCookie = bare.slice();
    noCookie[4] = 0;
    expect(isBareBindingRequest(noCookie)).toBe(false);
  });
});
