// What must hold before a received packet touches any state: every number
// exact in a double, offsets and credit below MAX_STREAM_OFFSET, and an ACK
// that decodes and acknowledges nothing we never sent.
import type { TransportPacket } from "../gen/holepunch/v1/holepunch_pb.ts";
import { decodeAckRanges, type PnRange } from "./ack-ranges.ts";
import { MAX_STREAM_OFFSET } from "./constants.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_OFFSET = BigInt(MAX_STREAM_OFFSET);

/** The decoded ACK ranges (undefined: no ACK), or false if the packet is to be dropped. */
export function checkPacket(p: TransportPacket, largestSent: number): PnRange[] | undefined | false {
  if (p.number > MAX_SAFE || p.number < 0n || p.maxData > MAX_OFFSET) return false;
  for (const c of p.chunks) if (c.offset > MAX_OFFSET || Number(c.offset) + c.data.length > MAX_STREAM_OFFSET) return false;
  for (const c of p.controls) if (c.maxOffset > MAX_OFFSET) return false;
  if (!p.ack) return undefined;
  const ranges = decodeAckRanges(p.ack.largest, p.ack.firstLength, p.ack.ranges);
  if (!ranges || ranges[0]!.hi > largestSent) return false;
  return ranges;
}
