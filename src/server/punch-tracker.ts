// Punch attempts as the server sees them: an introduction (a fresh token) is
// a punch started; the first PunchReport for its token says how it ended
// (direct, relay, failed). Each attempt has a request id, derived from its
// token (so every instance of a cluster logs the same id without sending it):
// every log line about the attempt carries it. Entries expire; the table is capped.
import { requestIdOf } from "../protocol/request-id.ts";
import { PunchOutcome } from "../gen/holepunch/v1/holepunch_pb.ts";
import { MAX_INTRODUCTIONS, PUNCH_REPORT_WINDOW } from "../constants.ts";



interface Attempt {
  requestId: string;
  startedAt: number;
  /** Started here (this instance introduced the requester): its outcome is counted here. */
  counts: boolean;
  reported: boolean;
}

export type ReportVerdict =
  | { kind: "counted"; requestId: string; elapsedMs: number; outcome: "direct" | "relay" | "failed" }
  | { kind: "repeat" | "not_counted"; requestId: string }
  | { kind: "unknown" };

const OUTCOMES: Record<number, "direct" | "relay" | "failed"> = {
  [PunchOutcome.DIRECT]: "direct",
  [PunchOutcome.RELAY]: "relay",
  [PunchOutcome.FAILED]: "failed",
};

export class PunchTracker {
  private readonly byToken = new Map<string, Attempt>();

  /** An introduction with `token`: its request id, and whether it is a new attempt. */
  started(tokenHex: string, token: Uint8Array, now: number, counts: boolean): { requestId: string; fresh: boolean } {
    const seen = this.byToken.get(tokenHex);
    if (seen) {
      seen.counts ||= counts;
      return { requestId: seen.requestId, fresh: false };
    }
    if (this.byToken.size >= MAX_INTRODUCTIONS) {
      const oldest = this.byToken.keys().next();
      if (!oldest.done) this.byToken.delete(oldest.value);
    }
    const requestId = requestIdOf(token);
    this.byToken.set(tokenHex, { requestId, startedAt: now, counts, reported: false });
    return { requestId, fresh: true };
  }

  /** A client's PunchReport (outcome already validated as 1..3). */
  report(tokenHex: string, outcome: PunchOutcome, elapsedMs: number): ReportVerdict {
    const a = this.byToken.get(tokenHex);
    if (!a) return { kind: "unknown" };
    if (a.reported) return { kind: "repeat", requestId: a.requestId };
    a.reported = true;
    if (!a.counts) return { kind: "not_counted", requestId: a.requestId };
    return { kind: "counted", requestId: a.requestId, elapsedMs, outcome: OUTCOMES[outcome]! };
  }

  sweep(now: number): void {
    for (const [k, a] of this.byToken) {
      if (now - a.startedAt < PUNCH_REPORT_WINDOW) break;
      this.byToken.delete(k);
    }
  }
}
