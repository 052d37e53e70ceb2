// Sample messages of every type, used by the codec tables and the fuzzer's seed corpus.
import { CandidateKind, ErrorCode } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import type { Body } from "../src/protocol/packet.ts";

const token = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const secret = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const key = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
const cookie = Uint8Array.from({ length: 24 }, (_, i) => 0x80 + i);
const sig = Uint8Array.from({ length: 64 }, (_, i) => i);
const mac16 = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i);
const v4 = (a: number, b: number, c: number, d: number, port: number) => ({
  $typeName: "holepunch.v1.Address" as const,
  ip: Uint8Array.of(a, b, c, d),
  port,
});
const v6loop = { $typeName: "holepunch.v1.Address" as const, ip: Uint8Array.of(...new Array(15).fill(0), 1), port: 443 };
const handshake = { $typeName: "holepunch.v1.Handshake" as const, ephemeral: key, signature: sig };
const addressToken = Uint8Array.from({ length: 24 }, (_, i) => 0x60 + i);
const register = (withCookie: boolean, additional = false, zeroRtt = false) => ({
  $typeName: "holepunch.v1.Register" as const,
  name: "alice",
  publicKey: key,
  localAddresses: [v4(10, 0, 0, 2, 5000), v6loop],
  software: "hp/1",
  cookie: withCookie && !zeroRtt ? cookie : new Uint8Array(),
  signature: withCookie ? sig : new Uint8Array(),
  token: "",
  additional,
  connectTo: withCookie && !additional ? "bob" : "",
  addressToken: zeroRtt ? addressToken : new Uint8Array(),
  clientTimeMs: zeroRtt ? 1_795_000_000_000n : 0n,
  padding: withCookie ? new Uint8Array() : new Uint8Array(8),
});
const v6doc = { $typeName: "holepunch.v1.Address" as const, ip: Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1), port: 39738 };

export const samples: Array<{ name: string; txid: bigint; body: Body }> = [
  { name: "Register (hello)", txid: 1n, body: { case: "register", value: register(false) } },
  { name: "Challenge", txid: 1n, body: { case: "challenge", value: { $typeName: "holepunch.v1.Challenge", cookie } } },
  { name: "Register (signed)", txid: 1n, body: { case: "register", value: register(true) } },
  { name: "Register (additional)", txid: 4n, body: { case: "register", value: register(true, true) } },
  { name: "Register (0-RTT)", txid: 6n, body: { case: "register", value: register(true, false, true) } },
  {
    name: "RegisterAck",
    txid: 1n,
    body: {
      case: "registerAck",
      value: { $typeName: "holepunch.v1.RegisterAck", name: "alice", observed: v4(198, 18, 0, 2, 40000), ttlMs: 45000, keepaliveMs: 10000, secret, serverAddresses: [v6doc], addressToken },
    },
  },
  {
    name: "RegisterAck (additional)",
    txid: 4n,
    body: {
      case: "registerAck",
      value: { $typeName: "holepunch.v1.RegisterAck", name: "alice", observed: v6doc, ttlMs: 45000, keepaliveMs: 10000, secret: new Uint8Array(), serverAddresses: [], addressToken: new Uint8Array() },
    },
  },
  { name: "Keepalive", txid: 2n, body: { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: "alice", secret, mapping: 1, portStep: 0 } } },
  { name: "Keepalive (sequential NAT)", txid: 5n, body: { case: "keepalive", value: { $typeName: "holepunch.v1.Keepalive", name: "alice", secret, mapping: 3, portStep: -2 } } },
  { name: "Unregister", txid: 3n, body: { case: "unregister", value: { $typeName: "holepunch.v1.Unregister", name: "alice", secret } } },
  { name: "KeepaliveAck", txid: 2n, body: { case: "keepaliveAck", value: { $typeName: "holepunch.v1.KeepaliveAck", observed: v4(198, 18, 0, 2, 40000) } } },
  { name: "HolePunchRequest", txid: 300n, body: { case: "holePunchRequest", value: { $typeName: "holepunch.v1.HolePunchRequest", target: "bob", secret, mapping: 2, portStep: 0 } } },
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
        peerKey: key,
        auth: mac16,
        relay: true,
        peerMapping: 1, peerPortStep: 0,
      },
    },
  },
  {
    name: "RelayData (client to server)",
    txid: 0n,
    body: { case: "relayData", value: { $typeName: "holepunch.v1.RelayData", token, secret, payload: Uint8Array.of(0xe8, 0x48, 0x50, 1, 0x08, 0x01) } },
  },
  { name: "NatProbe", txid: 9n, body: { case: "natProbe", value: { $typeName: "holepunch.v1.NatProbe", padding: new Uint8Array(4) } } },
  {
    name: "NatProbeAck",
    txid: 9n,
    body: { case: "natProbeAck", value: { $typeName: "holepunch.v1.NatProbeAck", observed: v4(198, 18, 0, 2, 40000), serverPort: 39739, altPort: 39739, altIp: new Uint8Array() } },
  },
  {
    name: "NatProbeAck (alternate IP)",
    txid: 9n,
    body: { case: "natProbeAck", value: { $typeName: "holepunch.v1.NatProbeAck", observed: v4(198, 18, 0, 2, 40000), serverPort: 39738, altPort: 39739, altIp: Uint8Array.of(198, 18, 0, 9) } },
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
  { name: "PunchProbe", txid: 0n, body: { case: "punchProbe", value: { $typeName: "holepunch.v1.PunchProbe", token, fromName: "bob", seq: 1n, handshake } } },
  {
    name: "PunchAck",
    txid: 0n,
    body: { case: "punchAck", value: { $typeName: "holepunch.v1.PunchAck", token, seq: 1n, observed: v4(198, 18, 0, 3, 1024), handshake, proof: mac16 } },
  },
  {
    name: "Sealed",
    txid: 0n,
    body: { case: "sealed", value: { $typeName: "holepunch.v1.Sealed", token, epoch: 1, counter: 5n, ciphertext: new Uint8Array(20).fill(0xcc) } },
  },
];
