// Introductions: one random token per pair of names, so that retried
// requests (and two clients asking for each other) join one attempt. Kept
// INTRODUCTION_TTL, capped at MAX_INTRODUCTIONS (oldest first out).
import { create } from "@bufbuild/protobuf";
import { CandidateKind, CandidateSchema, type Candidate } from "../gen/holepunch/v1/holepunch_pb.ts";
import { INTRODUCTION_TTL, MAX_INTRODUCTIONS, TOKEN_BYTES } from "../constants.ts";
import { addrKey, type Addr } from "../net/address.ts";
import { toWireAddress } from "../protocol/wire-address.ts";

interface Introduction {
  token: Uint8Array;
  /** Observed addresses of both sides when the token was issued. */
  where: string;
  expiresAt: number;
}

/** One side of an introduction: its name and the address the server sees it at. */
export interface Party {
  name: string;
  observed: Addr;
}

/** The pair's key (unordered: two clients that ask for each other join one attempt) and where both are. */
export function pairOf(a: Party, b: Party): { key: string; where: string } {
  const [x, y] = a.name < b.name ? [a, b] : [b, a];
  return { key: `${x.name}\n${y.name}`, where: `${addrKey(x.observed)} ${addrKey(y.observed)}` };
}

export class Introductions {
  private readonly byPair = new Map<string, Introduction>();

  /** The same pair at the same addresses keeps its token; anything else gets a fresh one. */
  token(a: Party, b: Party, now: number, randomBytes: (n: number) => Uint8Array): Uint8Array {
    const { key, where } = pairOf(a, b);
    const existing = this.byPair.get(key);
    if (existing && existing.expiresAt > now && existing.where === where) return existing.token;
    if (existing) this.byPair.delete(key);
    if (this.byPair.size >= MAX_INTRODUCTIONS) {
      const oldest = this.byPair.keys().next();
      if (!oldest.done) this.byPair.delete(oldest.value);
    }
    const token = randomBytes(TOKEN_BYTES);
    this.byPair.set(key, { token, where, expiresAt: now + INTRODUCTION_TTL });
    return token;
  }

  sweep(now: number): void {
    for (const [key, intro] of this.byPair) {
      if (intro.expiresAt > now) break;
      this.byPair.delete(key);
    }
  }
}

/** Who an Initiate introduces: a local registration's facts, or a remote one's from the cluster. */
export interface PeerInfo {
  name: string;
  publicKey: Uint8Array;
  candidates: Candidate[];
  /** packMapping() of what the peer's NAT does. */
  mapping: number;
}

/** Observed addresses first (the registration's, then its other family's), then the LAN addresses that differ. */
export function candidatesOf(reg: { observed: Addr; locals: Addr[] }, second?: Addr): Candidate[] {
  const out = [create(CandidateSchema, { address: toWireAddress(reg.observed), kind: CandidateKind.OBSERVED })];
  if (second) out.push(create(CandidateSchema, { address: toWireAddress(second), kind: CandidateKind.OBSERVED }));
  const seen = new Set([addrKey(reg.observed), ...(second ? [addrKey(second)] : [])]);
  for (const l of reg.locals) {
    if (seen.has(addrKey(l))) continue;
    seen.add(addrKey(l));
    out.push(create(CandidateSchema, { address: toWireAddress(l), kind: CandidateKind.LOCAL }));
  }
  return out;
}
