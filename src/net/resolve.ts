// Turns host names into IP literals (Bun's UDP send needs literals).
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { HpError } from "../errors.ts";
import { normalizeIp } from "./address.ts";

export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return normalizeIp(host);
  try {
    const { address } = await lookup(host);
    return normalizeIp(address);
  } catch (e) {
    throw new HpError("RESOLVE_FAILED", `cannot resolve ${host}: ${(e as Error).message}`);
  }
}

/** Every address of `host` (its A and AAAA records), in the resolver's order, without repeats; an IP literal is itself. */
export async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host)) return [normalizeIp(host)];
  let found: Array<{ address: string }>;
  try {
    found = await lookup(host, { all: true, order: "verbatim" });
  } catch (e) {
    throw new HpError("RESOLVE_FAILED", `cannot resolve ${host}: ${(e as Error).message}`);
  }
  const ips = [...new Set(found.map((a) => normalizeIp(a.address)))];
  if (ips.length === 0) throw new HpError("RESOLVE_FAILED", `cannot resolve ${host}: no addresses`);
  return ips;
}
