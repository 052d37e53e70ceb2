// Structural checks on a decoded envelope. protobuf accepts empty input and
// unknown fields, so everything a handler relies on is checked here: a body
// is present, byte fields have their exact lengths, addresses are 4/16 bytes
// with a port, lists and strings are bounded. Semantic checks (is this name
// allowed?) belong to the handler, which answers them with an Error reply.
import type { Address, Envelope } from "../gen/holepunch/v1/holepunch_pb.ts";
import { INSTANCE_BYTES, MAX_CANDIDATES, MAX_CHUNK_BYTES, MAX_LOCAL_ADDRESSES, TOKEN_BYTES } from "../constants.ts";

const MAX_NAME_BYTES = 64;
const MAX_TEXT_BYTES = 256;

function badAddress(a: Address | undefined): string | undefined {
  if (!a) return "missing address";
  if (a.ip.length !== 4 && a.ip.length !== 16) return `address of ${a.ip.length} bytes`;
  if (a.port < 1 || a.port > 65535) return `port ${a.port} out of range`;
  return undefined;
}

function badToken(t: Uint8Array): string | undefined {
  return t.length === TOKEN_BYTES ? undefined : `token of ${t.length} bytes`;
}

function badString(s: string, max: number, what: string): string | undefined {
  return s.length <= max ? undefined : `${what} longer than ${max}`;
}

/** Returns a description of the first problem, or undefined when the envelope is usable. */
export function validateEnvelope(env: Envelope): string | undefined {
  const b = env.body;
  switch (b.case) {
    case undefined:
      return "no body";
    case "register":
      if (b.value.instance.length !== INSTANCE_BYTES) return `instance of ${b.value.instance.length} bytes`;
      if (b.value.localAddresses.length > MAX_LOCAL_ADDRESSES) return "too many local addresses";
      for (const a of b.value.localAddresses) {
        const p = badAddress(a);
        if (p) return p;
      }
      return badString(b.value.name, MAX_NAME_BYTES, "name") ?? badString(b.value.software, MAX_TEXT_BYTES, "software");
    case "unregister":
    case "keepalive":
      if (b.value.instance.length !== INSTANCE_BYTES) return `instance of ${b.value.instance.length} bytes`;
      return badString(b.value.name, MAX_NAME_BYTES, "name");
    case "holePunchRequest":
      return badString(b.value.target, MAX_NAME_BYTES, "target");
    case "registerAck":
      return badAddress(b.value.observed) ?? badString(b.value.name, MAX_NAME_BYTES, "name");
    case "keepaliveAck":
      return badAddress(b.value.observed);
    case "holePunchResponseUnknown":
      return badString(b.value.target, MAX_NAME_BYTES, "target");
    case "holePunchInitiate": {
      const v = b.value;
      if (v.candidates.length === 0 || v.candidates.length > MAX_CANDIDATES) return "candidate count out of range";
      for (const c of v.candidates) {
        const p = badAddress(c.address);
        if (p) return p;
      }
      return badToken(v.token) ?? badString(v.peerName, MAX_NAME_BYTES, "peer name");
    }
    case "error":
      return badString(b.value.message, MAX_TEXT_BYTES, "message");
    case "punchProbe":
      return badToken(b.value.token) ?? badString(b.value.fromName, MAX_NAME_BYTES, "name");
    case "punchAck":
      return badToken(b.value.token) ?? badAddress(b.value.observed);
    case "message":
      if (b.value.data.length > MAX_CHUNK_BYTES) return "chunk too large";
      if (b.value.seq === 0n) return "message seq 0";
      return badToken(b.value.token);
    case "messageAck":
      return badToken(b.value.token);
    case "bye":
      return badToken(b.value.token) ?? badString(b.value.reason, MAX_TEXT_BYTES, "reason");
    default:
      return "unknown body";
  }
}
