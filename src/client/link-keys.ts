// One link's side of the key exchange: our signed ephemeral (sent in every
// probe and ack), the peer's verified one, the session keys derived from
// both, and the session cipher. forget() drops what is only needed while
// paths are still being proven (the ephemeral private key, the ack keys).
import type { Handshake } from "../gen/holepunch/v1/holepunch_pb.ts";
import { PROTOCOL_VERSION } from "../constants.ts";
import { ackProof, deriveSessionKeys, handshakeSigningInput, newEphemeral, type Ephemeral, type SessionKeys } from "../crypto/handshake.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { SessionCipher } from "../crypto/session-cipher.ts";
import { sign, verify, type Identity } from "../identity/keys.ts";
import { MAGIC } from "../protocol/packet.ts";

export type HandshakeVerdict = "ok" | "handshake_after_connect" | "bad_handshake_signature" | "bad_ephemeral";

export class LinkKeys {
  /** Our half, sent in every probe and ack. */
  readonly handshake: Handshake;
  cipher: SessionCipher | undefined;
  private ephemeral: Ephemeral | undefined;
  private peerEphemeral: Uint8Array | undefined;
  private keys: SessionKeys | undefined;

  constructor(
    identity: Identity,
    private readonly peerKey: Uint8Array,
    private readonly token: Uint8Array,
    private readonly now: () => number,
    private readonly rekey?: { packets: number; ms: number },
  ) {
    this.ephemeral = newEphemeral();
    const signature = sign(identity, handshakeSigningInput(token, this.ephemeral.publicKey));
    this.handshake = { $typeName: "holepunch.v1.Handshake", ephemeral: this.ephemeral.publicKey, signature };
  }

  /**
   * Accepts the peer's half: verified against its identity key, then the
   * session keys are derived (once). A new ephemeral is only accepted while
   * `punching`; after forget() even the known one no longer answers.
   */
  accept(h: Handshake, punching: boolean): HandshakeVerdict {
    if (this.peerEphemeral && equalBytes(this.peerEphemeral, h.ephemeral)) return this.keys ? "ok" : "handshake_after_connect";
    if (!punching || !this.ephemeral) return "handshake_after_connect";
    if (!verify(this.peerKey, handshakeSigningInput(this.token, h.ephemeral), h.signature)) return "bad_handshake_signature";
    const keys = deriveSessionKeys(this.ephemeral, h.ephemeral, this.token);
    if (!keys) return "bad_ephemeral";
    this.peerEphemeral = h.ephemeral;
    this.keys = keys;
    const context = new Uint8Array(MAGIC.length + 1 + this.token.length);
    context.set(MAGIC, 0);
    context[MAGIC.length] = PROTOCOL_VERSION;
    context.set(this.token, MAGIC.length + 1);
    this.cipher = new SessionCipher(keys, context, this.now, this.rekey);
    return "ok";
  }

  /** Our proof for a PunchAck answering probe `seq` (after accept() said "ok"). */
  proofFor(seq: bigint): Uint8Array {
    return ackProof(this.keys!.ackSend, seq);
  }

  /** Does the peer's PunchAck prove it derived the session from our ephemeral? */
  checkProof(seq: bigint, proof: Uint8Array): boolean {
    return this.keys !== undefined && equalBytes(proof, ackProof(this.keys.ackRecv, seq));
  }

  /** Can this link still prove a path (answer and check PunchAcks)? */
  get canProve(): boolean {
    return this.keys !== undefined;
  }

  /** Drops the ephemeral private key and the ack keys; the cipher keeps its own. */
  forget(): void {
    this.keys = undefined;
    this.ephemeral = undefined;
  }
}
