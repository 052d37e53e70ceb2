// A small internet made of Linux network namespaces, for real-NAT tests.
//
//   [server 198.18.0.1]──┐
//   [public host .N]─────┤ bridge "pub" in the "inet" namespace (198.18.0.0/24)
//   [NAT router wan .M]──┘
//        └─ bridge "lan" 10.K.0.1/24 ── host(s) 10.K.0.2, 10.K.0.3
//
// Every namespace name starts with a per-run prefix (hp<pid>x<n>-); all veths
// live inside those namespaces, so deleting the namespaces removes them too.
// No namespace has a default route to anything outside this topology.
import { installExitHook, ownedNamespaces } from "./preflight.ts";
import { exec, type ExecResult, type Proc, type SpawnOptions, spawn } from "./proc.ts";

export { canRunNatTests } from "./preflight.ts";
export {
  exec,
  spawn,
  Proc,
  type ExecOptions,
  type ExecResult,
  type Line,
  type LinePredicate,
  type SpawnOptions,
  type WaitOptions,
} from "./proc.ts";

export const SERVER_IP = "198.18.0.1";
export const UDP_TIMEOUT_S = 30;
/** Path of the small UDP helper script, run with `bun` inside namespaces. */
export const UDP_TOOL = new URL("./udp-tool.ts", import.meta.url).pathname;

export type SiteKind = "public" | "cone" | "random" | "dmz" | "sameNat";

export interface Host {
  name: string;
  ns: string;
  /** Address of the host's own interface (public or LAN). */
  ip: string;
}

export interface Router {
  ns: string;
  wanIp: string;
  lanIp: string;
}

export interface Site {
  kind: SiteKind;
  name: string;
  hosts: Host[];
  router?: Router;
  /** The address the public segment sees for this site. */
  publicIp: string;
}

export interface SiteOptions {
  /** Random loss (percent) on the NAT router's WAN link, both directions. */
  lossPercent?: number;
}

export interface KindSpec {
  hosts: number;
  /** nftables NAT statement for outbound packets; absent = no NAT. */
  masquerade?: string;
  /** DNAT every unsolicited inbound UDP packet to the (first) LAN host. */
  dmz?: boolean;
}

/** The site kinds: how many hosts, and how the router (if any) translates. */
export const SITE_KINDS: Record<SiteKind, KindSpec> = {
  public: { hosts: 1 },
  cone: { hosts: 1, masquerade: "masquerade" },
  random: { hosts: 1, masquerade: "masquerade random,fully-random" },
  dmz: { hosts: 1, masquerade: "masquerade", dmz: true },
  sameNat: { hosts: 2, masquerade: "masquerade" },
};

/** nftables ruleset of a NAT router modelled on a home router. */
export function routerRuleset(spec: KindSpec, r: Router, hostIp: string, lossPercent = 0): string {
  const loss = lossPercent > 0
    ? `iifname "wan" numgen random mod 100 < ${lossPercent} drop
    oifname "wan" numgen random mod 100 < ${lossPercent} drop`
    : "";
  return `
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ${spec.dmz ? `iifname "wan" meta l4proto udp dnat to ${hostIp}` : ""}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ${spec.masquerade}
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
    ${spec.dmz ? `iifname "wan" ct status dnat accept` : ""}
    iifname "wan" drop
  }
}
`;
}

// ---- the topology -------------------------------------------------------------

let instanceCounter = 0;

export class Internet {
  /** Unique per run and per instance, e.g. "hp4242x1-". */
  readonly prefix: string;
  readonly inetNs: string;
  /** The rendezvous server host, 198.18.0.1 on the public segment. */
  server!: Host;
  readonly sites: Site[] = [];
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<Proc>();
  private nextPublic = 1;
  private nextLan = 1;
  private nextPort = 1;

  private constructor() {
    this.prefix = `hp${process.pid}x${++instanceCounter}-`;
    this.inetNs = `${this.prefix}inet`;
  }

  /** Builds the internet namespace, its public bridge and the server host. */
  static async create(): Promise<Internet> {
    installExitHook();
    const net = new Internet();
    try {
      await net.addNs(net.inetNs);
      await net.ip(net.inetNs, "link add pub type bridge");
      await net.ip(net.inetNs, "link set pub up");
      net.server = await net.attachPublic("server", `${net.prefix}server`);
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  /** Adds a site of the given kind; `name` becomes part of the namespace names. */
  async addSite(kind: SiteKind, name: string, opts: SiteOptions = {}): Promise<Site> {
    const spec = SITE_KINDS[kind];
    const ns = `${this.prefix}${name}`;
    if (!spec.masquerade) {
      if (opts.lossPercent) throw new Error("loss is only modelled on NAT routers");
      const host = await this.attachPublic(name, ns);
      const site: Site = { kind, name, hosts: [host], publicIp: host.ip };
      this.sites.push(site);
      return site;
    }
    const lan = this.nextLan++;
    const rns = `${ns}-nat`;
    const wan = await this.attachPublic(`${name}-nat`, rns, "wan");
    const router: Router = { ns: rns, wanIp: wan.ip, lanIp: `10.${lan}.0.1` };
    await this.ip(rns, "link add lan type bridge");
    await this.ip(rns, `addr add ${router.lanIp}/24 dev lan`);
    await this.ip(rns, "link set lan up");
    const hosts: Host[] = [];
    for (let i = 0; i < spec.hosts; i++) {
      const hname = spec.hosts === 1 ? name : `${name}${i + 1}`;
      const hns = spec.hosts === 1 ? ns : `${ns}${i + 1}`;
      const ip = `10.${lan}.0.${i + 2}`;
      await this.addNs(hns);
      await this.ip(null, `link add l${i + 1} netns ${rns} type veth peer name eth0 netns ${hns}`);
      await this.ip(rns, `link set l${i + 1} master lan up`);
      await this.ip(hns, `addr add ${ip}/24 dev eth0`);
      await this.ip(hns, "link set eth0 up");
      await this.ip(hns, `route add default via ${router.lanIp}`);
      hosts.push({ name: hname, ns: hns, ip });
    }
    const first = hosts[0];
    if (!first) throw new Error("site without hosts");
    await exec(rns, ["nft", "-f", "-"], { stdin: routerRuleset(spec, router, first.ip, opts.lossPercent), check: true });
    await this.sysctl(rns, "net.ipv4.ip_forward", "1");
    await this.sysctl(rns, "net.netfilter.nf_conntrack_udp_timeout", String(UDP_TIMEOUT_S));
    await this.sysctl(rns, "net.netfilter.nf_conntrack_udp_timeout_stream", String(UDP_TIMEOUT_S));
    const site: Site = { kind, name, hosts, router, publicIp: router.wanIp };
    this.sites.push(site);
    return site;
  }

  /** Runs a command in one of this internet's namespaces. */
  exec(ns: string, argv: string[], opts?: { stdin?: string; check?: boolean }): Promise<ExecResult> {
    return exec(ns, argv, opts);
  }

  /** Starts a process that destroy() will kill. */
  spawn(ns: string, argv: string[], opts?: SpawnOptions): Proc {
    const p = spawn(ns, argv, opts);
    this.procs.add(p);
    return p;
  }

  /** Starts the UDP helper (test/nat/udp-tool.ts) with bun in a namespace. */
  udpTool(ns: string, args: string[]): Proc {
    return this.spawn(ns, [process.execPath, UDP_TOOL, ...args]);
  }

  /** Every process started through spawn()/udpTool(), in start order. */
  get processes(): Proc[] {
    return [...this.procs];
  }

  /** Names of every namespace created so far. */
  get namespaceNames(): readonly string[] {
    return this.namespaces;
  }

  /** Kills every process and removes every namespace (and so every veth) we made. */
  async destroy(): Promise<void> {
    for (const p of this.procs) p.kill("SIGKILL");
    await Promise.all([...this.procs].map((p) => Promise.race([p.exited, Bun.sleep(2000)])));
    this.procs.clear();
    for (const ns of [...this.namespaces].reverse()) {
      const pids = (await exec(null, ["ip", "netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
      await exec(null, ["ip", "netns", "del", ns]);
      ownedNamespaces.delete(ns);
    }
    this.namespaces.length = 0;
  }

  // ---- internals ----

  private async addNs(ns: string): Promise<void> {
    await exec(null, ["ip", "netns", "add", ns], { check: true });
    this.namespaces.push(ns);
    ownedNamespaces.add(ns);
    await this.ip(ns, "link set lo up");
    // Bridged frames must not traverse this namespace's IP hooks (br_netfilter).
    await exec(ns, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"]);
  }

  /** Creates `ns` and wires its `ifname` to the public bridge with the next public address. */
  private async attachPublic(name: string, ns: string, ifname = "eth0"): Promise<Host> {
    const ip = `198.18.0.${this.nextPublic++}`;
    if (this.nextPublic > 250) throw new Error("public segment exhausted");
    const port = `p${this.nextPort++}`;
    await this.addNs(ns);
    await this.ip(null, `link add ${port} netns ${this.inetNs} type veth peer name ${ifname} netns ${ns}`);
    await this.ip(this.inetNs, `link set ${port} master pub up`);
    await this.ip(ns, `addr add ${ip}/24 dev ${ifname}`);
    await this.ip(ns, `link set ${ifname} up`);
    return { name, ns, ip };
  }

  private async ip(ns: string | null, args: string): Promise<void> {
    const argv = ns === null ? ["ip", ...args.split(" ")] : ["ip", "-n", ns, ...args.split(" ")];
    await exec(null, argv, { check: true });
  }

  private async sysctl(ns: string, key: string, value: string): Promise<void> {
    await exec(ns, ["sysctl", "-qw", `${key}=${value}`], { check: true });
  }
}

/** Reads a sysctl inside a namespace (trimmed). */
export async function readSysctl(ns: string | null, key: string): Promise<string> {
  return (await exec(ns, ["sysctl", "-n", key], { check: true })).stdout.trim();
}

/** Splits "ip:port". */
export function parseAddr(addr: string): { ip: string; port: number } {
  const i = addr.lastIndexOf(":");
  return { ip: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}
