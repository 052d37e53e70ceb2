// Port prediction for a sequential NAT (RFC 4787 "port-range preserving,
// sequential" allocators): the server saw the peer at port P and its
// alternate port at P + step, so the peer's next new mapping (the one its
// probes to us leave from) is likely P + 2·step, then P + 3·step, ... Pure.
import { PREDICT_WINDOW } from "../constants.ts";
import type { Addr } from "../net/address.ts";

/** The next PREDICT_WINDOW ports after `seen` (P) in steps of `step`, skipping P + step, within 1..65535. */
export function predictedAddresses(seen: Addr, step: number): Addr[] {
  const out: Addr[] = [];
  for (let k = 2; k < 2 + PREDICT_WINDOW; k++) {
    const port = seen.port + k * step;
    if (port > 0 && port < 65536) out.push({ ip: seen.ip, port });
  }
  return out;
}
