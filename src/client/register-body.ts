// The Register a client sends: the hello (no cookie, padded so the server may
// answer it: replies to an unverified address are no larger than the request)
// or, with the server's cookie, the signed Register. `additional` adds the
// sending address to an existing registration (the other address family).
import { HELLO_MIN_BYTES } from "../constants.ts";
import { registerSigningInput } from "../crypto/server-auth.ts";
import { sign, type Identity } from "../identity/keys.ts";
import type { Addr } from "../net/address.ts";
import { encodePacket, type Body } from "../protocol/packet.ts";
import { toWireAddress } from "../protocol/wire-address.ts";

export interface RegisterParams {
  name: string;
  identity: Identity;
  locals: Addr[];
  software: string;
  token?: string;
  /** The Challenge's cookie; absent: the hello. */
  cookie?: Uint8Array;
  /** The registration cycle's txid (the hello's size includes it). */
  txid: bigint;
  additional?: boolean;
  /** Ask for an introduction to this peer in the same request. */
  connectTo?: string;
  /** Without a cookie: try 0-RTT with this address token and wall-clock time. */
  zeroRtt?: { token: Uint8Array; wallMs: number };
}

export function registerBody(p: RegisterParams): Body {
  const cookie = p.cookie ?? new Uint8Array();
  const value = {
    $typeName: "holepunch.v1.Register" as const,
    name: p.name,
    publicKey: p.identity.publicKey,
    localAddresses: p.locals.map(toWireAddress),
    software: p.software,
    cookie,
    signature: new Uint8Array() as Uint8Array,
    token: p.cookie || p.zeroRtt ? (p.token ?? "") : "",
    additional: p.additional ?? false,
    connectTo: p.cookie || p.zeroRtt ? (p.connectTo ?? "") : "",
    // 0-RTT: no cookie yet, but a token from an earlier registration here (the server may accept it at once).
    addressToken: !p.cookie && p.zeroRtt ? p.zeroRtt.token : new Uint8Array(),
    clientTimeMs: !p.cookie && p.zeroRtt ? BigInt(Math.floor(p.zeroRtt.wallMs)) : 0n,
    padding: new Uint8Array() as Uint8Array,
  };
  if (p.cookie || value.addressToken.length) value.signature = sign(p.identity, registerSigningInput(value));
  else {
    const size = encodePacket({ case: "register", value }, p.txid).length;
    // A bytes field costs 2 bytes of framing, and an empty one is not sent at all.
    if (size < HELLO_MIN_BYTES) value.padding = new Uint8Array(Math.max(1, HELLO_MIN_BYTES - size - 2));
  }
  return { case: "register", value };
}
