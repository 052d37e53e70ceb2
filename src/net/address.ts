// UDP endpoints: parsing, formatting, and the 4/16-byte wire form.
// Pure functions; IPv4-mapped IPv6 (::ffff:a.b.c.d, as a dual-stack socket
// reports IPv4 peers) is normalised to plain IPv4 everywhere.
import { isIP } from "node:net";

export interface Addr {
  /** Normalised IP literal: dotted IPv4, or lower-case compressed IPv6. */
  ip: string;
  port: number;
}

const MAPPED_PREFIX = "::ffff:";

export function normalizeIp(ip: string): string {
  // Hot path (every received datagram): sockets give IPv4 as is, or IPv4-mapped in lowercase.
  const c = ip.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39 && !ip.includes(":")) return ip;
  if (ip.startsWith(MAPPED_PREFIX) && isDottedQuad(ip, MAPPED_PREFIX.length)) return ip.slice(MAPPED_PREFIX.length);
  const lower = ip.toLowerCase();
  if (lower.startsWith(MAPPED_PREFIX) && isIP(lower.slice(MAPPED_PREFIX.length)) === 4) {
    return lower.slice(MAPPED_PREFIX.length);
  }
  if (isIP(lower) === 6) return bytesToIp(ipToBytes(lower));
  return lower;
}

/** Digits and dots only from `from` on, 3 dots (a cheap pre-check; isIP decides elsewhere). */
function isDottedQuad(s: string, from: number): boolean {
  let dots = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) dots++;
    else if (c < 0x30 || c > 0x39) return false;
  }
  return dots === 3 && s.length > from;
}

export function addr(ip: string, port: number): Addr {
  return { ip: normalizeIp(ip), port };
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65536;
}

export function formatAddr(a: Addr): string {
  return a.ip.includes(":") ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/** Stable map key for an endpoint (same as formatAddr). */
export const addrKey = formatAddr;

export function sameAddr(a: Addr, b: Addr): boolean {
  return a.port === b.port && a.ip === b.ip;
}

/**
 * LAN-only addresses: RFC 1918, shared CGNAT space (RFC 6598), link-local,
 * and IPv6 unique-local / link-local. What a client may offer as a LAN candidate.
 */
export function isPrivateIp(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254);
  }
  if (isIP(ip) !== 6) return false;
  const first = ipToBytes(ip);
  return (first[0]! & 0xfe) === 0xfc || (first[0] === 0xfe && (first[1]! & 0xc0) === 0x80);
}

/** The unit rate limits count per: an IPv4 address, or an IPv6 /64 (what one host usually has). */
export function ipLimitKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  return `${bytesToIp(Uint8Array.of(...ipToBytes(ip).subarray(0, 8), 0, 0, 0, 0, 0, 0, 0, 0))}/64`;
}

/** IP literal -> 4 or 16 bytes. Throws on anything that is not an IP literal. */
export function ipToBytes(ip: string): Uint8Array {
  const kind = isIP(ip);
  if (kind === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (kind !== 6) throw new Error(`not an IP address: ${ip}`);
  let text = ip.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) fills the last four bytes.
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail = text.slice(lastColon + 1).split(".").map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head ? head.split(":") : [];
  const restGroups = rest ? rest.split(":") : [];
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - restGroups.length).fill("0"), ...restGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** 4 or 16 bytes -> IP literal (IPv4-mapped IPv6 becomes IPv4). Throws on other lengths. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new Error(`an IP address is 4 or 16 bytes, not ${b.length}`);
  const isMapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (isMapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: compress the longest run (length >= 2) of zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLen).join(":");
  return `${left}::${right}`;
}

/**
 * Parses "host", "host:port", "[v6]:port" or a bare IPv6 literal.
 * Returns the host (not resolved) and the port (or the default).
 */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const s = text.trim();
  let host = s;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) throw new Error(`missing ']' in ${JSON.stringify(text)}`);
    host = s.slice(1, end);
    const after = s.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) throw new Error(`unexpected text after ']' in ${JSON.stringify(text)}`);
      portText = after.slice(1);
    }
  } else if (s.split(":").length === 2) {
    [host, portText] = s.split(":") as [string, string];
  }
  if (host === "") throw new Error(`no host in ${JSON.stringify(text)}`);
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!/^\d+$/.test(portText ?? String(defaultPort)) || !isValidPort(port)) {
    throw new Error(`invalid port in ${JSON.stringify(text)}`);
  }
  return { host, port };
}
