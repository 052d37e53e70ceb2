/** A random non-zero 64-bit transaction id. */
export function randomTxid(): bigint {
  const b = crypto.getRandomValues(new BigUint64Array(1));
  return b[0]! === 0n ? 1n : b[0]!;
}
