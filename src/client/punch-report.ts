// PunchReport (client -> server, for the server's punch metrics): once per
// introduction token, how the attempt ended and how long after the token's
// first Initiate reached us.
//
//   the link connects directly ------------> DIRECT
//   the link connects through the relay ---> RELAY
//   the attempt gives up (PUNCH_FAILED) ---> FAILED
//
// Only a token's first outcome is reported: a later relay -> direct upgrade,
// or a new link on the same token, sends nothing more. Bookkeeping and the
// message body only; the client sends it (twice, unanswered, like Unregister).
import { PunchOutcome } from "../gen/holepunch/v1/holepunch_pb.ts";
import type { Body } from "../protocol/packet.ts";

/** Tokens remembered (first Initiate times, and tokens reported), at most. */
const MAX_TRACKED = 256;

export interface PunchReportFields {
  token: Uint8Array;
  outcome: PunchOutcome;
  elapsedMs: number;
}

export class PunchReports {
  private readonly firstInitiate = new Map<string, number>();
  private readonly reported = new Set<string>();

  /** An Initiate with `token` was accepted at `now` (only the first one counts). */
  initiated(token: Uint8Array, now: number): void {
    const key = hex(token);
    if (this.firstInitiate.has(key)) return;
    forgetOldest(this.firstInitiate);
    this.firstInitiate.set(key, now);
  }

  /** The attempt with `token` ended with `outcome`: the report to send, or undefined when this token has had one. */
  outcome(token: Uint8Array, outcome: PunchOutcome, now: number): PunchReportFields | undefined {
    const key = hex(token);
    if (this.reported.has(key)) return undefined;
    forgetOldest(this.reported);
    this.reported.add(key);
    const since = this.firstInitiate.get(key) ?? now;
    return { token, outcome, elapsedMs: now - since };
  }
}

/** The PunchReport body, with our registration secret. elapsed_ms is a uint32. */
export function punchReportBody(secret: Uint8Array, r: PunchReportFields): Body {
  const elapsedMs = Math.min(Math.max(0, Math.round(r.elapsedMs)), 0xffff_ffff);
  return { case: "punchReport", value: { $typeName: "holepunch.v1.PunchReport", secret, token: r.token, outcome: r.outcome, elapsedMs } };
}

function forgetOldest(c: Map<string, unknown> | Set<string>): void {
  if (c.size < MAX_TRACKED) return;
  const oldest = c.keys().next();
  if (!oldest.done) c.delete(oldest.value);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

export { requestIdOf } from "../protocol/request-id.ts";
