// Transport values (src/transport/), with their units. QUIC's names where
// they exist (RFC 9000 §13.2, RFC 9002 §6 and §7, Appendix A and B).
import { millisecond, second } from "../constants.ts";

export const KiB = 1024;
export const MiB = 1024 * KiB;

/**
 * Largest encoded TransportPacket, bytes: sealing adds its overhead (token,
 * epoch, counter, tag: up to ~60 B with large epochs and counters) and our
 * 4-byte prefix, and RelayData wraps that again (~46 B): the datagram stays
 * ≤ MAX_PACKET_BYTES (1200) even relayed, with room to spare.
 */
export const MAX_TRANSPORT_PACKET_BYTES = 1080;
/** Smallest packet budget the transport accepts (room for an ACK and some data). */
export const MIN_TRANSPORT_PACKET_BYTES = 200;
/** receiveBytes() drops anything larger than this without decoding it. */
export const MAX_RECEIVED_PACKET_BYTES = 64 * KiB;

// ---- acknowledgements (RFC 9000 §13.2) ----
/** An ack-eliciting packet is acknowledged within this long (the peer assumes the same). */
export const MAX_ACK_DELAY = 25 * millisecond;
/** ...or at once when this many ack-eliciting packets wait for an ACK. */
export const ACK_ELICITING_THRESHOLD = 2;
/** ACK ranges carried in one TransportAck, at most (the newest ones). */
export const MAX_ACK_RANGES = 32;
/** A received TransportAck with more (gap, length) pairs than this is malformed. */
export const MAX_ACK_RANGES_ACCEPTED = 256;
/** Received packet-number ranges remembered for duplicate detection; older numbers count as duplicates. */
export const MAX_TRACKED_RECEIVED_RANGES = 512;

// ---- loss recovery (RFC 9002 §6, Appendix A.2) ----
export const PACKET_THRESHOLD = 3;
export const TIME_THRESHOLD = 9 / 8;
export const GRANULARITY = 1 * millisecond;
export const INITIAL_RTT = 333 * millisecond;
/** The backed-off PTO never exceeds this (RFC 9002 sets no cap; a dead path should not go silent for hours). */
export const MAX_PTO = 60 * second;
/** Ack-eliciting packets sent when the PTO fires (RFC 9002 §6.2.4: one or two). */
export const PTO_PROBE_PACKETS = 2;
/** Sent packets remembered for acknowledgement, at most; past this the oldest are declared lost. */
export const MAX_TRACKED_SENT_PACKETS = 8_192;

// ---- congestion control, NewReno (RFC 9002 §7, Appendix B.1) ----
/** Initial window, in maximum-size packets. */
export const INITIAL_WINDOW_PACKETS = 10;
/** Minimum window (persistent congestion), in maximum-size packets. */
export const MINIMUM_WINDOW_PACKETS = 2;
export const LOSS_REDUCTION_FACTOR = 0.5;
export const PERSISTENT_CONGESTION_THRESHOLD = 3;

// ---- flow control (RFC 9000 §4) ----
/**
 * Credit each side grants before any update: both ends assume these, so they
 * are part of the protocol (the proto has no transport parameters). A larger
 * configured window is advertised with the first packets.
 */
export const INITIAL_STREAM_WINDOW_BYTES = 256 * KiB;
export const INITIAL_SESSION_WINDOW_BYTES = 1 * MiB;
/** Receive windows by default (per stream, and for all streams together). */
export const DEFAULT_STREAM_WINDOW_BYTES = 1 * MiB;
export const DEFAULT_SESSION_WINDOW_BYTES = 4 * MiB;
/** write() returns false once a stream holds this much unacknowledged data. */
export const DEFAULT_WRITE_HIGH_WATER_BYTES = 1 * MiB;
/** Largest stream offset or credit we accept (keeps every number exact in a double). */
export const MAX_STREAM_OFFSET = 2 ** 50;

// ---- streams ----
/** Streams the peer may have open at once; more are refused with REFUSED_TOO_MANY_STREAMS. */
export const MAX_INCOMING_STREAMS = 256;
/** Out-of-order pieces one stream's reassembly buffer holds, at most (more are dropped: the sender resends). */
export const MAX_REASSEMBLY_SEGMENTS = 1024;
/** Application codes the transport itself uses in StreamControl.reset / .refuse. */
export const RESET_DEFAULT = 1;
export const REFUSED_DEFAULT = 1;
export const REFUSED_TOO_MANY_STREAMS = 2;
