// The NAT kinds of the harness and the nftables rulesets that make them.
//
// Every router filters like a home router: conntrack lets answers in, every
// unsolicited inbound packet is dropped (address-and-port-dependent
// filtering), except on a "dmz" router, which forwards it to its host.

export type SiteKind = "public" | "cone" | "random" | "dmz" | "sameNat" | "double";

export interface KindSpec {
  hosts: number;
  /** nftables NAT statement of the (home) router for outbound packets; absent = no NAT. */
  masquerade?: string;
  /** DNAT every unsolicited inbound UDP packet to the (first) LAN host. */
  dmz?: boolean;
  /**
   * A carrier-grade NAT in front of the home router: its nftables NAT
   * statement. The home router's WAN is then in 100.64.0.0/10 (RFC 6598)
   * and only the carrier's WAN is on the public segment.
   */
  carrier?: string;
}

/** The site kinds: how many hosts, and how the router(s) translate. */
export const SITE_KINDS: Record<SiteKind, KindSpec> = {
  public: { hosts: 1 },
  cone: { hosts: 1, masquerade: "masquerade" },
  random: { hosts: 1, masquerade: "masquerade random,fully-random" },
  dmz: { hosts: 1, masquerade: "masquerade", dmz: true },
  sameNat: { hosts: 2, masquerade: "masquerade" },
  // A port-preserving home router behind a random-port CGNAT.
  double: { hosts: 1, masquerade: "masquerade", carrier: "masquerade random,fully-random" },
};

export interface RouterAddrs {
  wanIp: string;
}

/**
 * nftables ruleset of one NAT router: `masquerade` out of "wan", no unsolicited
 * inbound, no hairpinning, optional random loss on the WAN link, optional DMZ host.
 */
export function routerRuleset(
  opts: { masquerade: string; dmzHost?: string },
  r: RouterAddrs,
  lossPercent = 0,
): string {
  const loss = lossPercent > 0
    ? `iifname "wan" numgen random mod 100 < ${lossPercent} drop
    oifname "wan" numgen random mod 100 < ${lossPercent} drop`
    : "";
  return `
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ${opts.dmzHost ? `iifname "wan" meta l4proto udp dnat to ${opts.dmzHost}` : ""}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ${opts.masquerade}
  }
}
table ip filter {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    iifname "wan" drop
    ip daddr ${r.wanIp} iifname "lan" drop comment "no hairpinning"
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ${loss}
    ct state established,related accept
    ${opts.dmzHost ? `iifname "wan" ct status dnat accept` : ""}
    iifname "wan" drop
  }
}
`;
}

/**
 * A table of its own that drops UDP to and from `ip`: in the forward hook of
 * a router, or (`between` = a public host's address) on the public bridge, only
 * between that host and `ip`. A drop in a host's own output hook would fail
 * the sender's send() with EPERM, which no real network does. Removing the table lifts it.
 */
export function blockRuleset(table: string, ip: string, between?: string): string {
  if (between) {
    return `table bridge ${table} {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr ${between} ip daddr ${ip} meta l4proto udp drop
    ip saddr ${ip} ip daddr ${between} meta l4proto udp drop
  }
}
`;
  }
  return `table ip ${table} {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    meta l4proto udp ip daddr ${ip} drop
    meta l4proto udp ip saddr ${ip} drop
  }
}
`;
}
