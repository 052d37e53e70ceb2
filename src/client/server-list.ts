// The rendezvous servers a client may use: "a.example:39738,10.0.0.2,[2001:db8::1]:39738",
// each name standing for all its addresses. The client talks to one current
// server at a time and moves round robin to the next when it stops answering
// (server-link.ts, keepalives.ts). Pure: parsing, order, family; resolving is
// the runner's (udp-client.ts).
import { isIP } from "node:net";
import { addrKey, parseHostPort, sameAddr, type Addr } from "../net/address.ts";

export interface ServerEntry {
  host: string;
  port: number;
}

/**
 * Splits a comma-separated server list into host/port entries (IPv6 literals
 * in brackets when a port follows). Throws one clear line per bad entry.
 */
export function parseServerList(text: string, defaultPort: number): ServerEntry[] {
  const parts = text.split(",");
  const where = (i: number) => (parts.length === 1 ? "server address" : `server address ${i + 1} of ${parts.length}`);
  return parts.map((raw, i) => {
    const part = raw.trim();
    if (part === "") throw new Error(parts.length === 1 ? "no server address given" : `${where(i)} is empty (in ${JSON.stringify(text)})`);
    let entry: ServerEntry;
    try {
      entry = parseHostPort(part, defaultPort);
    } catch (e) {
      throw new Error(`${where(i)}: ${(e as Error).message}`);
    }
    if (/\s/.test(entry.host)) throw new Error(`${where(i)}: ${JSON.stringify(part)} is not a host name or IP address`);
    if (part.startsWith("[") && isIP(entry.host) !== 6) throw new Error(`${where(i)}: only IPv6 addresses go in brackets, not ${JSON.stringify(entry.host)}`);
    return entry;
  });
}

/** Drops repeated addresses, keeping the first of each (the order given). */
export function dedupeAddrs(list: readonly Addr[]): Addr[] {
  const seen = new Set<string>();
  return list.filter((a) => !seen.has(addrKey(a)) && seen.add(addrKey(a)));
}

/** The addresses a socket bound to `boundTo` can reach: all from a dual-stack "::", else those of its own family. */
export function usableFrom(list: readonly Addr[], boundTo: string): Addr[] {
  if (boundTo === "::") return [...list];
  const v6 = boundTo.includes(":");
  return list.filter((a) => a.ip.includes(":") === v6);
}

/** The server addresses, in order, and the one in use. */
export class ServerList {
  private index = 0;
  readonly all: readonly Addr[];

  constructor(list: Addr | readonly Addr[]) {
    this.all = "ip" in list ? [list] : dedupeAddrs(list);
    if (this.all.length === 0) throw new Error("no rendezvous server");
  }

  /** The server the client registers with now. */
  get current(): Addr {
    return this.all[this.index]!;
  }

  /** More than one address: failover is on (one server keeps the single-server timing). */
  get several(): boolean {
    return this.all.length > 1;
  }

  get size(): number {
    return this.all.length;
  }

  /** True when `from` is the current server's main address. */
  isCurrent(from: Addr): boolean {
    return sameAddr(from, this.current);
  }

  /** Moves to the next address (round robin) and returns it. */
  advance(): Addr {
    this.index = (this.index + 1) % this.all.length;
    return this.current;
  }
}
