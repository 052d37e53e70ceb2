// Transport options, their defaults and their checks.
import type { Clock } from "../clock.ts";
import type { TransportPacket } from "../gen/holepunch/v1/holepunch_pb.ts";
import {
  DEFAULT_SESSION_WINDOW_BYTES,
  DEFAULT_STREAM_WINDOW_BYTES,
  DEFAULT_WRITE_HIGH_WATER_BYTES,
  INITIAL_RTT,
  INITIAL_SESSION_WINDOW_BYTES,
  INITIAL_STREAM_WINDOW_BYTES,
  MAX_STREAM_OFFSET,
  MAX_TRANSPORT_PACKET_BYTES,
  MIN_TRANSPORT_PACKET_BYTES,
} from "./constants.ts";
import { BadArgumentError } from "./errors.ts";
import type { Stream } from "./stream.ts";

export interface TransportOptions {
  /** Which end this is: "a" opens even stream ids, "b" odd ones. The two ends must differ. */
  role: "a" | "b";
  clock: Clock;
  /** Sends one packet (the caller encodes and seals it). Give this or sendBytes. */
  send?: (packet: TransportPacket) => void;
  /** Sends one encoded packet (toBinary of the same), if the caller prefers bytes. */
  sendBytes?: (bytes: Uint8Array) => void;
  /**
   * The peer opened a stream; `label` is what it said the stream is for.
   * Return false (or call stream.refuse(code)) to refuse it. Absent: every
   * stream is refused.
   */
  onStream?: (stream: Stream, label: string) => boolean | void;
  /** A datagram arrived. */
  onDatagram?: (flow: number, data: Uint8Array) => void;
  /** An application callback threw (default: rethrown from a microtask, outside the transport). */
  onCallbackError?: (error: unknown) => void;
  /** Largest encoded packet, bytes (default MAX_TRANSPORT_PACKET_BYTES = 1100). */
  maxPacketBytes?: number;
  /** Receive window per stream, bytes (default 1 MiB; at least INITIAL_STREAM_WINDOW_BYTES = 256 KiB). */
  streamWindowBytes?: number;
  /** Receive window for all streams together, bytes (default 4 MiB; at least INITIAL_SESSION_WINDOW_BYTES = 1 MiB). */
  sessionWindowBytes?: number;
  /** write() returns false from this many unacknowledged bytes on a stream (default 1 MiB). */
  writeHighWaterBytes?: number;
  /** RTT to assume before the first sample, ms (default INITIAL_RTT = 333; the punch RTT is a better guess). */
  initialRtt?: number;
}

export interface Resolved {
  budget: number;
  streamWindow: number;
  sessionWindow: number;
  highWater: number;
  initialRtt: number;
}

/** Fills in the defaults; throws BadArgumentError for values out of range. */
export function resolveOptions(o: TransportOptions): Resolved {
  if (o.role !== "a" && o.role !== "b") throw new BadArgumentError(`role ${String(o.role)}: want "a" or "b"`);
  if (!o.send && !o.sendBytes) throw new BadArgumentError("give send or sendBytes");
  const r: Resolved = {
    budget: o.maxPacketBytes ?? MAX_TRANSPORT_PACKET_BYTES,
    streamWindow: o.streamWindowBytes ?? DEFAULT_STREAM_WINDOW_BYTES,
    sessionWindow: o.sessionWindowBytes ?? DEFAULT_SESSION_WINDOW_BYTES,
    highWater: o.writeHighWaterBytes ?? DEFAULT_WRITE_HIGH_WATER_BYTES,
    initialRtt: o.initialRtt ?? INITIAL_RTT,
  };
  within("maxPacketBytes", r.budget, MIN_TRANSPORT_PACKET_BYTES, 65_535);
  within("streamWindowBytes", r.streamWindow, INITIAL_STREAM_WINDOW_BYTES, MAX_STREAM_OFFSET);
  within("sessionWindowBytes", r.sessionWindow, INITIAL_SESSION_WINDOW_BYTES, MAX_STREAM_OFFSET);
  within("writeHighWaterBytes", r.highWater, 1, MAX_STREAM_OFFSET);
  within("initialRtt", r.initialRtt, 1, 60_000);
  return r;
}

function within(name: string, v: number, min: number, max: number): void {
  if (!(v >= min && v <= max)) throw new BadArgumentError(`${name} ${v}: want ${min}..${max}`);
}
