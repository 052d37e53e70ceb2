// Public API of the transport: reliable ordered streams and unreliable
// datagrams over the encrypted peer path (QUIC-like, RFC 9000 / RFC 9002).
//
//   const t = new Transport({ role: "a", clock, send: (p) => link.seal(p), onStream: (s, label) => label === "chat" });
//   const s = t.open("chat"); s.write(bytes); s.end();
//   for await (const chunk of s) ...
//   link.onTransport = (p) => t.receive(p);
export { Transport } from "./transport.ts";
export type { TransportOptions } from "./options.ts";
export { Stream } from "./stream.ts";
export type { TransportStats } from "./stats.ts";
export {
  BadArgumentError,
  StreamEndedError,
  StreamIdsExhaustedError,
  StreamRefusedError,
  StreamResetError,
  TransportClosedError,
  TransportError,
  type TransportErrorCode,
} from "./errors.ts";
export * from "./constants.ts";
export { decodeAckRanges, encodeAckRanges, type AckFields, type PnRange } from "./ack-ranges.ts";
