// Faults injected into a running topology: blocking the direct path between
// two sites, and forgetting every NAT mapping of a site (conntrack flush).
import type { Site } from "./harness.ts";
import { exec } from "./proc.ts";
import { blockRuleset } from "./rules.ts";

/** A block in force; pass it to unblock() (or call remove()) to lift it. */
export interface Block {
  readonly ns: string;
  readonly table: string;
  readonly ip: string;
  remove(): Promise<void>;
}

let blockCounter = 0;

/**
 * Drops UDP between `site` and `otherPublicIp`: on the site's outermost
 * router (forwarded packets, both directions), or, for a public site, on the
 * public bridge between its host and that address. Traffic to the rendezvous
 * server (and so its relay) still flows.
 */
export async function blockDirect(site: Site, otherPublicIp: string): Promise<Block> {
  const outer = site.routers[0];
  const table = `hpblock${++blockCounter}`;
  let ns: string;
  let family: "ip" | "bridge";
  if (outer) {
    [ns, family] = [outer.ns, "ip"];
    await exec(ns, ["nft", "-f", "-"], { stdin: blockRuleset(table, otherPublicIp), check: true });
  } else {
    [ns, family] = [site.segmentNs, "bridge"];
    await exec(ns, ["nft", "-f", "-"], { stdin: blockRuleset(table, otherPublicIp, site.publicIp), check: true });
  }
  let removed = false;
  return {
    ns,
    table,
    ip: otherPublicIp,
    async remove() {
      if (removed) return;
      removed = true;
      await exec(ns, ["nft", "delete", "table", family, table], { check: true });
    },
  };
}

/** Lifts a block made by blockDirect (idempotent). */
export function unblock(block: Block): Promise<void> {
  return block.remove();
}

/**
 * `conntrack -F` in every router namespace of the site (every NAT mapping
 * and every "hole" is forgotten at once, as when a router reboots or a
 * CGNAT rebalances). Public sites have no router: their host's table is flushed.
 * Returns how many entries each namespace held just before the flush.
 */
export async function flushConntrack(site: Site): Promise<Record<string, number>> {
  const namespaces = site.routers.length > 0 ? site.routers.map((r) => r.ns) : site.hosts.map((h) => h.ns);
  const held: Record<string, number> = {};
  for (const ns of namespaces) {
    held[ns] = Number((await exec(ns, ["conntrack", "-C"], { check: true })).stdout.trim());
    await exec(ns, ["conntrack", "-F"], { check: true });
  }
  return held;
}
