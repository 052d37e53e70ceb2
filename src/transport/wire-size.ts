// Exact protobuf (proto3) sizes of the transport messages, so packets are
// filled up to the budget without encoding them twice. Every field number in
// these messages is below 16: a tag is one byte. Zero / false / empty fields
// are not encoded; a present message field or repeated element always is.
// test/transport-wire.test.ts checks these against toBinary().

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A scalar varint field (uint32 / uint64 / bool as 1). */
export function varintField(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n);
}

/** A bytes / string field of `len` bytes. */
export function bytesField(len: number): number {
  return len === 0 ? 0 : 1 + varintSize(len) + len;
}

/** A message-typed field or one element of a repeated message field. */
export function messageField(innerLen: number): number {
  return 1 + varintSize(innerLen) + innerLen;
}

export function chunkSize(stream: number, offset: number, dataLen: number, fin: boolean, openLen: number): number {
  return messageField(
    varintField(stream) + varintField(offset) + bytesField(dataLen) + (fin ? 2 : 0) + bytesField(openLen),
  );
}

export function controlSize(stream: number, maxOffset: number, reset: number, refuse: number): number {
  return messageField(varintField(stream) + varintField(maxOffset) + varintField(reset) + varintField(refuse));
}

export function datagramSize(flow: number, dataLen: number): number {
  return messageField(varintField(flow) + bytesField(dataLen));
}

/** The `ack` field of a TransportPacket; `ranges` is packed. */
export function ackSize(largest: number, delayUs: number, firstLength: number, ranges: readonly number[]): number {
  let packed = 0;
  for (const r of ranges) packed += varintSize(r);
  return messageField(
    varintField(largest) + varintField(delayUs) + varintField(firstLength) + (packed === 0 ? 0 : messageField(packed)),
  );
}

/**
 * The largest data length L such that a chunk with L bytes of data fits in
 * `room` bytes (0 if even an empty chunk does not fit: check that first).
 */
export function maxChunkData(room: number, stream: number, offset: number, fin: boolean, openLen: number): number {
  let len = Math.max(0, room - 12 - (openLen > 0 ? openLen + 3 : 0));
  while (len > 0 && chunkSize(stream, offset, len, fin, openLen) > room) len--;
  while (chunkSize(stream, offset, len + 1, fin, openLen) <= room) len++;
  return len;
}
