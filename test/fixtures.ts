// Sample messages of every type, used by the codec tables and the fuzzer's seed corpus.
import { CandidateKind, ErrorCode } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import type { Body } from "../src/protocol/packet.ts";

const token = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const instance = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const v4 = (a: number, b: number, c: number, d: number, port: number) => ({
  $typeName: "holepunch.v1.Address" as const,
  ip: Uint8Array.of(a, b, c, d),
  port,
});
const v6loop = { $typeName: "holepunch.v1.Address" as const, ip: Uint8Array.of(...new Array(15).fill(0), 1), port: 443 };

export const samples: Array<{ name: string; txid: bigint; body: Body }> = [
  {
    name: "Register",
    txid: 1n,
    body: {
      case: "register",
      value: { $typeName: "holepunch.v1.Register", name: "alice", instance, localAddresses: [v4(10, 0, 0, 2, 5000), v6loop], software: "hp/1" },
    },
  },
  {
    name: "RegisterAck",
    txid: 1n,
    body: { case: "registerAck", value: { $typeName: "holepunch.v1.RegisterAck", name: "alice", observed: v4(198, 18, 0, 2, 40000), ttlMs: 45000, keepaliveMs: 10000 } },
  },
  { name: "Keepalive", txid: 2n, body: { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: "alice", instance } } },
  { name: "Unregister", txid: 3n, body: { case: "unregister", value: { $typeName: "holepunch.v1.Unregister", name: "alice", instance } } },
  { name: "KeepaliveAck", txid: 2n, body: { case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: v4(198, 18, 0, 2, 40000) } } },
  { name: "HolePunchRequest", txid: 300n, body: { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "bob" } } },
  {
    name: "HolePunchResponseUnknown",
    txid: 300n,
    body: { case: "holePunchResponseUnknown", value: { $typeName: "holepunch.v1.HolePunchResponseUnknown", target: "bob" } },
  },
  {
    name: "HolePunchInitiate",
    txid: 0n,
    body: {
      case: "holePunchInitiate",
      value: {
        $typeName: "holepunch.v1.HolePunchInitiate",
        peerName: "bob",
        candidates: [
          { $typeName: "holepunch.v1.Candidate", address: v4(198, 18, 0, 3, 1024), kind: CandidateKind.OBSERVED },
          { $typeName: "holepunch.v1.Candidate", address: v4(10, 0, 0, 3, 5000), kind: CandidateKind.LOCAL },
        ],
        token,
        initiator: true,
      },
    },
  },
  {
    name: "Error",
    txid: 7n,
    body: { case: "error", value: { $typeName: "holepunch.v1.Error", code: ErrorCode.NAME_TAKEN, message: "taken", retryAfterMs: 0, supportedVersions: [] } },
  },
  {
    name: "Error (unsupported version)",
    txid: 0n,
    body: { case: "error", value: { $typeName: "holepunch.v1.Error", code: ErrorCode.UNSUPPORTED_VERSION, message: "", retryAfterMs: 0, supportedVersions: [1] } },
  },
  { name: "PunchProbe", txid: 0n, body: { case: "punchProbe", value: { $typeName: "holepunch.v1.PunchProbe", token, fromName: "bob", seq: 1n } } },
  { name: "PunchAck", txid: 0n, body: { case: "punchAck", value: { $typeName: "holepunch.v1.PunchAck", token, seq: 1n, observed: v4(198, 18, 0, 3, 1024) } } },
  {
    name: "Message",
    txid: 0n,
    body: { case: "message", value: { $typeName: "holepunch.v1.Message", token, seq: 1n, data: new TextEncoder().encode("hi"), last: true } },
  },
  { name: "MessageAck", txid: 0n, body: { case: "messageAck", value: { $typeName: "holepunch.v1.MessageAck", token, seq: 1n } } },
  { name: "Bye", txid: 0n, body: { case: "bye", value: { $typeName: "holepunch.v1.Bye", token, reason: "done" } } },
];
