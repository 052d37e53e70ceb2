// The host's own addresses, offered to peers as LAN candidates.
import { networkInterfaces } from "node:os";
import { isPrivateIp, normalizeIp, type Addr } from "./address.ts";
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

/** True when this host has a usable (non-loopback, non-link-local) address of that family. */
export function hasAddressOfFamily(v6: boolean): boolean {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.internal || (ni.family === "IPv6") !== v6) continue;
      const ip = ni.address.toLowerCase();
      if (v6 ? !ip.startsWith("fe80") : !ip.startsWith("169.254.")) return true;
    }
  }
  return false;
}

/**
 * The IP addresses a server bound to `host` answers on, public ones first:
 * every usable interface address for a wildcard bind ("::" also takes
 * IPv4), else the host itself.
 */
export function serverIps(host: string, limit: number): string[] {
  if (host !== "::" && host !== "0.0.0.0") return [normalizeIp(host)];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      const ip = ni.address.toLowerCase();
      if (ni.internal || ip.startsWith("fe80") || ip.startsWith("169.254.")) continue;
      if (host === "0.0.0.0" && ni.family === "IPv6") continue;
      out.push(normalizeIp(ni.address));
    }
  }
  out.sort((a, b) => Number(isPrivateIp(a)) - Number(isPrivateIp(b)));
  // Up to `limit` of each family: many IPv4 addresses must not crowd out the IPv6 ones.
  return [...out.filter((ip) => !ip.includes(":")).slice(0, limit), ...out.filter((ip) => ip.includes(":")).slice(0, limit)];
}
