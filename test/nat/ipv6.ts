// IPv6 on top of a harness internet: routed, not translated, behind stateful
// firewalls. Every NAT router gets a global IPv6 address on its WAN and
// routes a /64 to its LAN; its ip6 table lets out anything and lets in only
// what conntrack has seen leave (a home router's IPv6 default), so a v6 host
// needs punching too, but no port mapping.
//
//   public segment 2001:db8::/64: server ::1, routers' WANs ::1xx, public hosts ::2xx
//   site K's LAN   2001:db8:K::/64: router ::1, hosts ::2, ::3
//
// Carrier-grade ("double") sites are left IPv4-only.
import { exec, type Internet, type Site } from "./harness.ts";

export const SERVER_IP6 = "2001:db8::1";

/** Stateful IPv6 firewall of a home router: out yes, in only what answers. */
export function firewall6Ruleset(): string {
  return `
table ip6 fw6 {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    meta l4proto ipv6-icmp accept comment "neighbour discovery"
    iifname "wan" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname "wan" drop
  }
}
`;
}

async function ip(ns: string, args: string): Promise<void> {
  await exec(null, ["ip", "-n", ns, ...args.split(" ")], { check: true });
}

/** Each host's IPv6 address, by host name, for the sites given a v6 address. */
export type V6Addresses = Map<string, string>;

/** Gives the server and `sites` IPv6 (sites of other kinds, or omitted, stay IPv4-only). */
export async function enableIpv6(net: Internet, sites: Site[]): Promise<V6Addresses> {
  const out: V6Addresses = new Map();
  const routes: Array<{ prefix: string; via: string }> = [];
  await ip(net.server.ns, `addr add ${SERVER_IP6}/64 dev eth0 nodad`);
  const onSegment: string[] = [net.server.ns];
  let k = 0;
  for (const site of sites) {
    k++;
    if (site.kind === "double") continue;
    if (!site.router) {
      const host = site.hosts[0]!;
      const addr = `2001:db8::${200 + k}`;
      await ip(host.ns, `addr add ${addr}/64 dev eth0 nodad`);
      out.set(host.name, addr);
      onSegment.push(host.ns);
      continue;
    }
    const r = site.router;
    const wan = `2001:db8::${100 + k}`;
    await ip(r.ns, `addr add ${wan}/64 dev wan nodad`);
    await ip(r.ns, `addr add 2001:db8:${k}::1/64 dev lan nodad`);
    await exec(r.ns, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], { check: true });
    await exec(r.ns, ["nft", "-f", "-"], { stdin: firewall6Ruleset(), check: true });
    onSegment.push(r.ns);
    routes.push({ prefix: `2001:db8:${k}::/64`, via: wan });
    for (const [i, host] of site.hosts.entries()) {
      const addr = `2001:db8:${k}::${i + 2}`;
      await ip(host.ns, `addr add ${addr}/64 dev eth0 nodad`);
      await ip(host.ns, `-6 route add default via 2001:db8:${k}::1`);
      out.set(host.name, addr);
    }
  }
  // Everyone on the public segment reaches every site's /64 through that site's router.
  for (const ns of onSegment) {
    for (const r of routes) if (!(await ownsAddress(ns, r.via))) await ip(ns, `-6 route add ${r.prefix} via ${r.via}`);
  }
  // Link-local addresses still in duplicate address detection make the first
  // neighbour exchanges stall for about a second: a real network's hosts are
  // long past that, so wait it out here.
  const all = [...new Set([...onSegment, ...sites.flatMap((s) => [...s.hosts.map((h) => h.ns), ...s.routers.map((r) => r.ns)])])];
  for (let i = 0; i < 50; i++) {
    const busy = await Promise.all(all.map(async (ns) => (await exec(null, ["ip", "-n", ns, "-6", "addr", "show", "tentative"])).stdout.trim() !== ""));
    if (!busy.includes(true)) break;
    await Bun.sleep(100);
  }
  return out;
}

async function ownsAddress(ns: string, addr: string): Promise<boolean> {
  const r = await exec(null, ["ip", "-n", ns, "-6", "addr", "show"], { check: true });
  return r.stdout.includes(`${addr}/`);
}
