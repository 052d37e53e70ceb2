// Structural checks on a decoded envelope. protobuf accepts empty input and
// unknown fields, so everything a handler relies on is checked here: a body
// is present, byte fields have their exact lengths, addresses are 4/16 bytes
// with a port, lists and strings are bounded. Semantic checks (is this name
// allowed?) belong to the handler, which answers them with an Error reply.
import type { Address, Envelope, Handshake, PeerFrame } from "../gen/holepunch/v1/holepunch_pb.ts";
import { AUTH_BYTES, KEY_BYTES, MAX_CANDIDATES, MAX_LOCAL_ADDRESSES, MAX_PORT_STEP, MAX_SERVER_ADDRESSES, SECRET_BYTES, SIGNATURE_BYTES, TOKEN_BYTES } from "../constants.ts";
import { TAG_BYTES } from "../crypto/aead.ts";
import { ADDRESS_TOKEN_BYTES, COOKIE_BYTES } from "../crypto/server-auth.ts";

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

function badHandshake(h: Handshake | undefined): string | undefined {
  if (!h) return "missing handshake";
  if (h.ephemeral.length !== KEY_BYTES) return `ephemeral of ${h.ephemeral.length} bytes`;
  return h.signature.length === SIGNATURE_BYTES ? undefined : `signature of ${h.signature.length} bytes`;
}

/** MappingKind values this version knows (0-3): an unknown one must not alias a known one. */
function badMapping(kind: number): string | undefined {
  return kind >= 0 && kind <= 3 ? undefined : `unknown NAT mapping kind ${kind}`;
}

function badStep(step: number): string | undefined {
  return Math.abs(step) <= MAX_PORT_STEP ? undefined : `port step ${step} out of range`;
}

function badSecret(s: Uint8Array): string | undefined {
  return s.length === SECRET_BYTES ? undefined : `secret of ${s.length} bytes`;
}

/** Returns a description of the first problem, or undefined when the envelope is usable. */
export function validateEnvelope(env: Envelope): string | undefined {
  const b = env.body;
  switch (b.case) {
    case undefined:
      return "no body";
    case "register": {
      const r = b.value;
      if (r.publicKey.length !== KEY_BYTES) return `public key of ${r.publicKey.length} bytes`;
      if (r.cookie.length !== 0 && r.cookie.length !== COOKIE_BYTES) return `cookie of ${r.cookie.length} bytes`;
      if (r.addressToken.length !== 0 && r.addressToken.length !== ADDRESS_TOKEN_BYTES) return `address token of ${r.addressToken.length} bytes`;
      if ((r.cookie.length !== 0 || r.addressToken.length !== 0) && r.signature.length !== SIGNATURE_BYTES) return `signature of ${r.signature.length} bytes`;
      if (r.localAddresses.length > MAX_LOCAL_ADDRESSES) return "too many local addresses";
      for (const a of r.localAddresses) {
        const p = badAddress(a);
        if (p) return p;
      }
      return (
        badString(r.name, MAX_NAME_BYTES, "name") ??
        badString(r.software, MAX_TEXT_BYTES, "software") ??
        badString(r.token, MAX_TEXT_BYTES, "token") ??
        badString(r.connectTo, MAX_NAME_BYTES, "connect_to")
      );
    }
    case "relayData": {
      const r = b.value;
      if (r.secret.length !== 0 && r.secret.length !== SECRET_BYTES) return `secret of ${r.secret.length} bytes`;
      if (r.payload.length === 0) return "empty relay payload";
      return badToken(r.token);
    }
    case "natProbe":
      return undefined;
    case "punchReport": {
      const o = b.value.outcome;
      return badSecret(b.value.secret) ?? badToken(b.value.token) ?? (o >= 1 && o <= 3 ? undefined : `unknown punch outcome ${o}`);
    }
    case "natProbeAck": {
      const n = b.value.altIp.length;
      return badAddress(b.value.observed) ?? (n === 0 || n === 4 || n === 16 ? undefined : `alternate IP of ${n} bytes`);
    }
    case "challenge":
      return b.value.cookie.length === COOKIE_BYTES ? undefined : "bad cookie";
    case "unregister":
      return badSecret(b.value.secret) ?? badString(b.value.name, MAX_NAME_BYTES, "name");
    case "keepalive":
      return badSecret(b.value.secret) ?? badString(b.value.name, MAX_NAME_BYTES, "name") ?? badMapping(b.value.mapping) ?? badStep(b.value.portStep);
    case "holePunchRequest":
      return badSecret(b.value.secret) ?? badString(b.value.target, MAX_NAME_BYTES, "target") ?? badMapping(b.value.mapping) ?? badStep(b.value.portStep);
    case "registerAck": {
      const a = b.value;
      // An additional registration's ack carries no secret.
      const secret = a.secret.length === 0 ? undefined : badSecret(a.secret);
      if (a.serverAddresses.length > MAX_SERVER_ADDRESSES) return "too many server addresses";
      if (a.addressToken.length !== 0 && a.addressToken.length !== ADDRESS_TOKEN_BYTES) return `address token of ${a.addressToken.length} bytes`;
      for (const s of a.serverAddresses) {
        const p = badAddress(s);
        if (p) return p;
      }
      return badAddress(a.observed) ?? secret ?? badString(a.name, MAX_NAME_BYTES, "name");
    }
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
      if (v.peerKey.length !== KEY_BYTES) return `peer key of ${v.peerKey.length} bytes`;
      if (v.auth.length !== AUTH_BYTES) return `auth of ${v.auth.length} bytes`;
      if (badStep(v.peerPortStep) ?? badMapping(v.peerMapping)) return badStep(v.peerPortStep) ?? badMapping(v.peerMapping);
      return badToken(v.token) ?? badString(v.peerName, MAX_NAME_BYTES, "peer name");
    }
    case "error":
      return badString(b.value.message, MAX_TEXT_BYTES, "message");
    case "punchProbe":
      return badToken(b.value.token) ?? badHandshake(b.value.handshake) ?? badString(b.value.fromName, MAX_NAME_BYTES, "name");
    case "punchAck":
      if (b.value.proof.length !== AUTH_BYTES) return `proof of ${b.value.proof.length} bytes`;
      // `observed` is absent when the probe came through the relay.
      return badToken(b.value.token) ?? (b.value.observed ? badAddress(b.value.observed) : undefined) ?? badHandshake(b.value.handshake);
    case "sealed":
      if (b.value.ciphertext.length < TAG_BYTES) return "ciphertext shorter than its tag";
      return badToken(b.value.token);
    default:
      return "unknown body";
  }
}

/** Checks a decrypted PeerFrame. */
export function validateFrame(f: PeerFrame): string | undefined {
  const x = f.frame;
  switch (x.case) {
    case "bye":
      return badString(x.value.reason, MAX_TEXT_BYTES, "reason");
    case "ping":
    case "pong":
      return undefined;
    case "transport":
      // The transport checks its own fields (offsets, windows, ACK ranges) and drops what it cannot use.
      return undefined;
    default:
      return "no frame";
  }
}
