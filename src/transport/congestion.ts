// NewReno congestion control, RFC 9002 §7 and Appendix B: slow start,
// congestion avoidance, one window reduction per recovery period, minimum
// window after persistent congestion. Bytes are whole encoded packets.
import {
  INITIAL_WINDOW_PACKETS,
  LOSS_REDUCTION_FACTOR,
  MINIMUM_WINDOW_PACKETS,
} from "./constants.ts";

export class NewReno {
  cwnd: number;
  ssthresh = Infinity;
  bytesInFlight = 0;
  /** Packets sent at or before this time belong to the current recovery period. */
  recoveryStart: number | undefined;

  constructor(readonly maxDatagram: number) {
    this.cwnd = INITIAL_WINDOW_PACKETS * maxDatagram;
  }

  get minimumWindow(): number {
    return MINIMUM_WINDOW_PACKETS * this.maxDatagram;
  }

  /** Room for another packet of `bytes` without exceeding the window. */
  canSend(bytes: number): boolean {
    return this.bytesInFlight + bytes <= this.cwnd;
  }

  onSent(bytes: number): void {
    this.bytesInFlight += bytes;
  }

  /**
   * An in-flight packet was acknowledged. `appLimited`: the sender did not
   * fill the window lately, so the ACK says nothing about a larger one (§7.8).
   */
  onAcked(bytes: number, sentTime: number, appLimited: boolean): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
    if (this.inRecovery(sentTime) || appLimited) return;
    if (this.cwnd < this.ssthresh) this.cwnd += bytes;
    else this.cwnd += (this.maxDatagram * bytes) / this.cwnd;
  }

  /** An in-flight packet was declared lost (or forgotten): it no longer counts. */
  onLost(bytes: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
  }

  /** Loss of a packet sent at `sentTime`: halve the window unless already recovering from an earlier loss. */
  onCongestionEvent(sentTime: number, now: number): void {
    if (this.inRecovery(sentTime)) return;
    this.recoveryStart = now;
    this.ssthresh = this.cwnd * LOSS_REDUCTION_FACTOR;
    this.cwnd = Math.max(this.ssthresh, this.minimumWindow);
  }

  onPersistentCongestion(): void {
    this.cwnd = this.minimumWindow;
    this.recoveryStart = undefined;
  }

  inRecovery(sentTime: number): boolean {
    return this.recoveryStart !== undefined && sentTime <= this.recoveryStart;
  }
}
