// Turns a host name into an IP literal (Bun's UDP send needs literals).
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
