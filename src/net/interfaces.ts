// The host's own addresses, offered to peers as LAN candidates.
import { networkInterfaces } from "node:os";
import { normalizeIp, type Addr } from "./address.ts";
import { MAX_LOCAL_ADDRESSES } from "../constants.ts";

/** Non-loopback, non-link-local addresses of this host, with `port`. */
export function localCandidates(port: number, includeIpv6: boolean): Addr[] {
  const out: Addr[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.internal) continue;
      if (ni.family === "IPv6" && (!includeIpv6 || ni.address.toLowerCase().startsWith("fe80"))) continue;
      out.push({ ip: normalizeIp(ni.address), port });
    }
  }
  // IPv4 first: it is what most LANs route.
  out.sort((a, b) => Number(a.ip.includes(":")) - Number(b.ip.includes(":")));
  return out.slice(0, MAX_LOCAL_ADDRESSES);
}

export function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}
