// Transport counters and the stats snapshot the application reads.
import type { Recovery } from "./recovery.ts";
import type { StreamTable } from "./streams.ts";

export interface Counters {
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  /** Ack-eliciting packets declared lost. */
  packetsLost: number;
  /** Stream bytes sent again after a loss. */
  bytesRetransmitted: number;
  probesSent: number;
  datagramsSent: number;
  datagramsReceived: number;
  /** Not sent: too large, window full, or closed. */
  datagramsDropped: number;
  /** Sent in packets declared lost (never retransmitted). */
  datagramsLost: number;
  /** Undecodable, or out of range (numbers, ACK of packets never sent): dropped. */
  malformedPackets: number;
  duplicatePackets: number;
  packetsAfterClose: number;
  callbackErrors: number;
  sendErrors: number;
}

export interface TransportStats extends Counters {
  /** Smoothed RTT, its variation, minimum and latest sample, ms. */
  srtt: number;
  rttvar: number;
  minRtt: number;
  latestRtt: number;
  /** Congestion window, slow-start threshold and bytes in flight, bytes. */
  cwnd: number;
  ssthresh: number;
  bytesInFlight: number;
  ptoCount: number;
  /** Sent packets waiting for an ACK or loss. */
  trackedPackets: number;
  /** Live streams. */
  streams: number;
  lateFrames: number;
  invalidFrames: number;
  flowViolations: number;
  reassemblyDrops: number;
  /** Session flow control, sending: new stream bytes sent, and the peer's credit (max_data). */
  dataSent: number;
  peerMaxData: number;
  /** ...receiving: highest offsets summed over streams, bytes consumed, credit advertised. */
  dataReceived: number;
  dataConsumed: number;
  maxData: number;
}

export function newStats(): Counters {
  return {
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    packetsLost: 0,
    bytesRetransmitted: 0,
    probesSent: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    datagramsDropped: 0,
    datagramsLost: 0,
    malformedPackets: 0,
    duplicatePackets: 0,
    packetsAfterClose: 0,
    callbackErrors: 0,
    sendErrors: 0,
  };
}

export function snapshot(c: Counters, r: Recovery, t: StreamTable): TransportStats {
  return {
    ...c,
    srtt: r.rtt.smoothed,
    rttvar: r.rtt.rttvar,
    minRtt: r.rtt.min,
    latestRtt: r.rtt.latest,
    cwnd: r.cc.cwnd,
    ssthresh: r.cc.ssthresh,
    bytesInFlight: r.cc.bytesInFlight,
    ptoCount: r.ptoCount,
    trackedPackets: r.tracked,
    streams: t.live.size,
    ...t.counters,
    dataSent: t.sentData,
    peerMaxData: t.peerMaxData,
    dataReceived: t.recvData,
    dataConsumed: t.consumedData,
    maxData: t.maxData,
  };
}
