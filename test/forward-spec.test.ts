// --expose / --forward specs: parsing tables and the exposing side's matching.
import { describe, expect, test } from "bun:test";
import { ForwardSpecError, labelOf, matchExpose, parseExpose, parseForward } from "../src/forward/spec.ts";

describe("parse", () => {
  const ok: Array<[string, unknown]> = [
    ["tcp:127.0.0.1:8080", { proto: "tcp", host: "127.0.0.1", port: 8080 }],
    ["udp:10.0.0.5:51820", { proto: "udp", host: "10.0.0.5", port: 51820 }],
    ["tcp:[::1]:22", { proto: "tcp", host: "::1", port: 22 }],
    ["tcp:localhost:5432", { proto: "tcp", host: "localhost", port: 5432 }],
  ];
  for (const [spec, want] of ok) test(`--expose ${spec}`, () => expect(parseExpose(spec)).toEqual(want as never));
  const bad = ["tcp:127.0.0.1", "sctp:1.2.3.4:5", "tcp:1.2.3.4:0", "tcp:1.2.3.4:70000", "tcp::80", "", "tcp:1.2.3.4:8o"];
  for (const spec of bad) test(`--expose ${JSON.stringify(spec)} is refused`, () => expect(() => parseExpose(spec)).toThrow(ForwardSpecError));
  const fwd: Array<[string, unknown]> = [
    ["tcp:8080", { proto: "tcp", localPort: 8080, targetPort: undefined }],
    ["udp:0", { proto: "udp", localPort: 0, targetPort: undefined }],
    ["tcp:2222:22", { proto: "tcp", localPort: 2222, targetPort: 22 }],
  ];
  for (const [spec, want] of fwd) test(`--forward ${spec}`, () => expect(parseForward(spec)).toEqual(want as never));
  for (const spec of ["tcp", "tcp:x", "tcp:80:0", "icmp:1", "tcp:1:2:3"]) test(`--forward ${JSON.stringify(spec)} is refused`, () => expect(() => parseForward(spec)).toThrow(ForwardSpecError));
});

describe("match", () => {
  const exposes = [parseExpose("tcp:127.0.0.1:80"), parseExpose("tcp:127.0.0.1:22"), parseExpose("udp:127.0.0.1:51820")];
  const table: Array<[string, number | undefined]> = [
    ["tcp:22", 22],
    ["tcp:80", 80],
    ["tcp", undefined], // two TCP targets: the forward must name one
    ["udp", 51820],
    ["udp:51820", 51820],
    ["tcp:443", undefined],
    ["chat", undefined],
    ["tcp:22:1", undefined],
  ];
  for (const [label, want] of table) test(`${label} -> ${want ?? "refused"}`, () => expect(matchExpose(label, exposes)?.port).toBe(want as number));
  test("labelOf", () => {
    expect(labelOf(parseForward("tcp:8080"))).toBe("tcp");
    expect(labelOf(parseForward("tcp:8080:22"))).toBe("tcp:22");
  });
});

test("UDP flow ids: reply bit, target port, flow number", async () => {
  const { flowId, flowParts } = await import("../src/forward/udp.ts");
  expect(flowParts(flowId(51820, 7))).toEqual({ reply: false, targetPort: 51820, n: 7 });
  expect(flowParts(flowId(51820, 7, true))).toEqual({ reply: true, targetPort: 51820, n: 7 });
  expect(flowParts(flowId(0, 32767))).toEqual({ reply: false, targetPort: 0, n: 32767 });
  expect(flowId(65535, 32767, true)).toBe(0xffffffff);
});
