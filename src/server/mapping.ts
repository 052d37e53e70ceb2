// A client's NAT mapping as it reported it, packed into the one byte the
// registry keeps per client: the MappingKind in the low 2 bits, and for a
// sequential NAT its port step (-16..16) plus 16 in the bits above.
import { MappingKind } from "../gen/holepunch/v1/holepunch_pb.ts";
import { MAX_PORT_STEP } from "../constants.ts";

export function packMapping(kind: MappingKind, step: number): number {
  const s = kind === MappingKind.SEQUENTIAL && Math.abs(step) <= MAX_PORT_STEP ? step : 0;
  return (kind & 0x3) | ((s + MAX_PORT_STEP) << 2);
}

export function unpackMapping(b: number): { kind: MappingKind; step: number } {
  const kind = (b & 0x3) as MappingKind;
  return { kind, step: kind === MappingKind.SEQUENTIAL ? (b >> 2) - MAX_PORT_STEP : 0 };
}
