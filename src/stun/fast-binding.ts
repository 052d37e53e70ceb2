// The server's hot path: a bare Binding request (20 bytes, RFC 8489 cookie,
// no attributes), which is what almost every STUN client sends, answered
// without the general decoder: the same bytes encodeBindingSuccess() makes
// (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT), with the SOFTWARE attribute
// encoded once. Pure.
import type { Addr } from "../net/address.ts";
import { ATTRIBUTE_HEADER_BYTES, FINGERPRINT, FINGERPRINT_BYTES, FINGERPRINT_XOR, ipInto, MAGIC_COOKIE, SOFTWARE, STUN_HEADER_BYTES, utf8, XOR_MAPPED_ADDRESS } from "./attributes.ts";

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;

/** 20 bytes: Binding request, length 0, the magic cookie. */
export function isBareBindingRequest(b: Uint8Array): boolean {
  return b.length === STUN_HEADER_BYTES && b[0] === 0 && b[1] === BINDING_REQUEST && b[2] === 0 && b[3] === 0 && b[4] === 0x21 && b[5] === 0x12 && b[6] === 0xa4 && b[7] === 0x42;
}

export class BindingResponder {
  /** The SOFTWARE attribute, header and padding included. */
  private readonly software: Uint8Array;
  private readonly scratch = new Uint8Array(16);

  constructor(software: string) {
    const text = utf8(software);
    this.software = new Uint8Array(ATTRIBUTE_HEADER_BYTES + ((text.length + 3) & ~3));
    this.software[0] = SOFTWARE >> 8;
    this.software[1] = SOFTWARE & 0xff;
    this.software[2] = text.length >> 8;
    this.software[3] = text.length & 0xff;
    this.software.set(text, ATTRIBUTE_HEADER_BYTES);
  }

  /** The success response to a bare Binding request (see isBareBindingRequest) from `mapped`; `alloc` may hand out reused (dirty) memory. */
  respond(request: Uint8Array, mapped: Addr, alloc: (bytes: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
    const n = ipInto(mapped.ip, this.scratch);
    const xorAt = STUN_HEADER_BYTES + ATTRIBUTE_HEADER_BYTES;
    const softwareAt = xorAt + 4 + n;
    const fingerprintAt = softwareAt + this.software.length;
    const out = alloc(fingerprintAt + ATTRIBUTE_HEADER_BYTES + FINGERPRINT_BYTES);
    const length = out.length - STUN_HEADER_BYTES;
    out[0] = BINDING_SUCCESS >> 8;
    out[1] = BINDING_SUCCESS & 0xff;
    out[2] = length >> 8;
    out[3] = length & 0xff;
    for (let i = 4; i < STUN_HEADER_BYTES; i++) out[i] = request[i]!; // cookie and transaction id
    out[STUN_HEADER_BYTES] = XOR_MAPPED_ADDRESS >> 8;
    out[STUN_HEADER_BYTES + 1] = XOR_MAPPED_ADDRESS & 0xff;
    out[STUN_HEADER_BYTES + 2] = 0;
    out[STUN_HEADER_BYTES + 3] = 4 + n;
    out[xorAt] = 0;
    out[xorAt + 1] = n === 4 ? 1 : 2;
    const port = mapped.port ^ (MAGIC_COOKIE >>> 16);
    out[xorAt + 2] = port >> 8;
    out[xorAt + 3] = port & 0xff;
    // The XOR pad is cookie ‖ transaction id: header bytes 4..19.
    for (let i = 0; i < n; i++) out[xorAt + 4 + i] = this.scratch[i]! ^ out[4 + i]!;
    out.set(this.software, softwareAt);
    out[fingerprintAt] = FINGERPRINT >> 8;
    out[fingerprintAt + 1] = FINGERPRINT & 0xff;
    out[fingerprintAt + 2] = 0;
    out[fingerprintAt + 3] = FINGERPRINT_BYTES;
    const crc = (Bun.hash.crc32(out.subarray(0, fingerprintAt)) ^ FINGERPRINT_XOR) >>> 0;
    out[fingerprintAt + 4] = crc >>> 24;
    out[fingerprintAt + 5] = (crc >>> 16) & 0xff;
    out[fingerprintAt + 6] = (crc >>> 8) & 0xff;
    out[fingerprintAt + 7] = crc & 0xff;
    return out;
  }
}
