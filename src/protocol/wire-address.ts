// Conversions between our Addr and the protobuf Address (4/16 raw bytes + port).
import { create } from "@bufbuild/protobuf";
import { AddressSchema, type Address } from "../gen/holepunch/v1/holepunch_pb.ts";
import { bytesToIp, ipToBytes, type Addr } from "../net/address.ts";

export function toWireAddress(a: Addr): Address {
  return create(AddressSchema, { ip: ipToBytes(a.ip), port: a.port });
}

/** Assumes a validated Address (validate.ts checked the lengths). */
export function fromWireAddress(a: Address): Addr {
  return { ip: bytesToIp(a.ip), port: a.port };
}
