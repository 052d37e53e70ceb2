import { describe, expect, test } from "bun:test";
import { bytesToIp, formatAddr, ipToBytes, normalizeIp, parseHostPort } from "../src/net/address.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("ip <-> bytes", () => {
  const table: Array<[string, string, string]> = [
    ["198.18.0.1", "c6120001", "198.18.0.1"],
    ["::1", "00000000000000000000000000000001", "::1"],
    ["::", "00000000000000000000000000000000", "::"],
    ["2001:db8::1", "20010db8000000000000000000000001", "2001:db8::1"],
    ["2001:DB8:0:0:1:0:0:1", "20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
    ["fe80::1%eth0", "fe800000000000000000000000000001", "fe80::1"],
    ["::ffff:10.1.2.3", "00000000000000000000ffff0a010203", "10.1.2.3"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
  ];
  for (const [ip, bytes, back] of table) {
    test(ip, () => {
      expect(hex(ipToBytes(ip))).toBe(bytes);
      expect(bytesToIp(ipToBytes(ip))).toBe(back);
    });
  }
  test("rejects non-literals and bad lengths", () => {
    expect(() => ipToBytes("example.org")).toThrow();
    expect(() => bytesToIp(new Uint8Array(5))).toThrow();
  });
});

test("normalizeIp maps IPv4-mapped IPv6 to IPv4", () => {
  expect(normalizeIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
  expect(normalizeIp("2001:DB8::0:1")).toBe("2001:db8::1");
  expect(formatAddr({ ip: "::1", port: 5 })).toBe("[::1]:5");
  expect(formatAddr({ ip: "1.2.3.4", port: 5 })).toBe("1.2.3.4:5");
});

describe("parseHostPort", () => {
  const ok: Array<[string, string, number]> = [
    ["example.org", "example.org", 39738],
    ["example.org:1234", "example.org", 1234],
    ["198.18.0.1:9", "198.18.0.1", 9],
    ["[::1]:8080", "::1", 8080],
    ["[::1]", "::1", 39738],
    ["2001:db8::1", "2001:db8::1", 39738],
  ];
  for (const [text, host, port] of ok) test(text, () => expect(parseHostPort(text, 39738)).toEqual({ host, port }));
  for (const bad of ["", ":80", "host:0", "host:65536", "host:x", "[::1", "[::1]x"]) {
    test(`rejects ${JSON.stringify(bad)}`, () => expect(() => parseHostPort(bad, 39738)).toThrow());
  }
});
