// RTT estimation, RFC 9002 §5: latest, min, smoothed and variance, with the
// peer's ack delay taken off (bounded by max_ack_delay, never below min_rtt).
import { GRANULARITY, INITIAL_RTT } from "./constants.ts";

export class RttEstimator {
  latest = 0;
  min = 0;
  smoothed: number;
  rttvar: number;
  hasSample = false;

  constructor(initialRtt = INITIAL_RTT) {
    this.smoothed = initialRtt;
    this.rttvar = initialRtt / 2;
  }

  /** One sample: `latestRtt` measured on the largest newly acknowledged packet, `ackDelay` as reported, ms. */
  update(latestRtt: number, ackDelay: number, maxAckDelay: number): void {
    this.latest = latestRtt;
    if (!this.hasSample) {
      this.hasSample = true;
      this.min = latestRtt;
      this.smoothed = latestRtt;
      this.rttvar = latestRtt / 2;
      return;
    }
    this.min = Math.min(this.min, latestRtt);
    const delay = Math.min(ackDelay, maxAckDelay);
    const adjusted = latestRtt >= this.min + delay ? latestRtt - delay : latestRtt;
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.smoothed - adjusted);
    this.smoothed = 0.875 * this.smoothed + 0.125 * adjusted;
  }

  /** The probe timeout before backoff (RFC 9002 §6.2.1). */
  pto(maxAckDelay: number): number {
    return this.smoothed + Math.max(4 * this.rttvar, GRANULARITY) + maxAckDelay;
  }
}
