// A small internet made of Linux network namespaces, for real-NAT tests.
//
//   [server 198.18.0.1]──┐
//   [public host .N]─────┤ bridge "pub" in the "inet" namespace (198.18.0.0/24)
//   [NAT router wan .M]──┤
//   │    └─ bridge "lan" 10.K.0.1/24 ── host(s) 10.K.0.2, 10.K.0.3
//   [CGNAT wan .C]───────┘                            ("double" sites:)
//        └─ lan 100.64.K.1/24 ── home router wan 100.64.K.2
//                                  └─ bridge "lan" 10.K.0.1/24 ── host 10.K.0.2
//
// Every namespace name starts with a per-run prefix (hp<pid>x<n>-); all veths
// live inside those namespaces, so deleting the namespaces removes them too.
// No namespace has a default route to anything outside this topology.
//
// A link to the public bridge may be given a one-way delay (SiteOptions.delayMs,
// InternetOptions.serverDelayMs): that link is then a pair of TAP devices joined
// by a delay-link process (delay.ts) instead of a veth pair; destroy() and the
// exit hook kill that process like any other, and its devices go with it.
import { startDelayLink } from "./delay.ts";
import { installExitHook, ownedNamespaces } from "./preflight.ts";
import { exec, type ExecResult, type Proc, type SpawnOptions, spawn } from "./proc.ts";
import { routerRuleset, SITE_KINDS, type SiteKind } from "./rules.ts";

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
export { type KindSpec, routerRuleset, SITE_KINDS, type SiteKind } from "./rules.ts";
export { type Block, blockDirect, flushConntrack, unblock } from "./faults.ts";
export { type DelayLinkOptions, type DelayLinkStats, type LinkEnd, startDelayLink, stopDelayLink, udpRoundTrips } from "./delay.ts";

export const SERVER_IP = "198.18.0.1";
export const UDP_TIMEOUT_S = 30;
/** Path of the small UDP helper script, run with `bun` inside namespaces. */
export const UDP_TOOL = new URL("./udp-tool.ts", import.meta.url).pathname;

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
  /** The router whose LAN the hosts are on (the home router); absent for public hosts. */
  router?: Router;
  /** Every router of the site, outermost (the one on the public segment) first. */
  routers: Router[];
  /** The address the public segment sees for this site. */
  publicIp: string;
  /** Namespace of the public segment's bridge (where blockDirect acts for public sites). */
  segmentNs: string;
}

export interface SiteOptions {
  /** Random loss (percent) on the outermost NAT router's WAN link, both directions. */
  lossPercent?: number;
  /**
   * One-way delay (ms, each direction) on the link between the site and the
   * public segment: the outermost router's WAN link, or a public host's own.
   * Default 0: a plain veth.
   */
  delayMs?: number;
}

export interface InternetOptions {
  /** One-way delay (ms, each direction) on the server's link to the public segment. Default 0. */
  serverDelayMs?: number;
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
  static async create(opts: InternetOptions = {}): Promise<Internet> {
    installExitHook();
    const net = new Internet();
    try {
      await net.addNs(net.inetNs);
      await net.ip(net.inetNs, "link add pub type bridge");
      await net.ip(net.inetNs, "link set pub up");
      net.server = await net.attachPublic("server", `${net.prefix}server`, "eth0", opts.serverDelayMs);
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
      const host = await this.attachPublic(name, ns, "eth0", opts.delayMs);
      const site: Site = { kind, name, hosts: [host], routers: [], publicIp: host.ip, segmentNs: this.inetNs };
      this.sites.push(site);
      return site;
    }
    const lan = this.nextLan++;
    const rns = `${ns}-nat`;
    const routers: Router[] = [];
    let wanIp: string;
    if (spec.carrier) {
      // Carrier-grade NAT on the public segment; the home router's WAN in 100.64.0.0/10.
      const cns = `${ns}-cgn`;
      const cwan = await this.attachPublic(`${name}-cgn`, cns, "wan", opts.delayMs);
      const carrier: Router = { ns: cns, wanIp: cwan.ip, lanIp: `100.64.${lan}.1` };
      wanIp = `100.64.${lan}.2`;
      await this.addNs(rns);
      await this.ip(null, `link add lan netns ${cns} type veth peer name wan netns ${rns}`);
      await this.ip(cns, `addr add ${carrier.lanIp}/24 dev lan`);
      await this.ip(cns, "link set lan up");
      await this.ip(rns, `addr add ${wanIp}/24 dev wan`);
      await this.ip(rns, "link set wan up");
      await this.ip(rns, `route add default via ${carrier.lanIp}`);
      await this.natRouter(cns, { masquerade: spec.carrier }, carrier, opts.lossPercent);
      routers.push(carrier);
    } else {
      wanIp = (await this.attachPublic(`${name}-nat`, rns, "wan", opts.delayMs)).ip;
    }
    const router: Router = { ns: rns, wanIp, lanIp: `10.${lan}.0.1` };
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
    const home = { masquerade: spec.masquerade, dmzHost: spec.dmz ? first.ip : undefined };
    await this.natRouter(rns, home, router, spec.carrier ? 0 : opts.lossPercent);
    routers.push(router);
    const site: Site = { kind, name, hosts, router, routers, publicIp: routers[0]!.wanIp, segmentNs: this.inetNs };
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

  /**
   * Creates `ns` and wires its `ifname` to the public bridge with the next
   * public address: a veth pair, or with `delayMs` a delay link.
   */
  private async attachPublic(name: string, ns: string, ifname = "eth0", delayMs = 0): Promise<Host> {
    const ip = `198.18.0.${this.nextPublic++}`;
    if (this.nextPublic > 250) throw new Error("public segment exhausted");
    const port = `p${this.nextPort++}`;
    await this.addNs(ns);
    if (delayMs > 0) {
      // Started from the root namespace (it enters both namespaces itself), and tracked like spawn()'s processes.
      const track = (argv: string[]) => {
        const p = spawn(null, argv);
        this.procs.add(p);
        return p;
      };
      await startDelayLink({ ns: this.inetNs, ifname: port }, { ns, ifname }, { delayMs }, track);
    } else {
      await this.ip(null, `link add ${port} netns ${this.inetNs} type veth peer name ${ifname} netns ${ns}`);
    }
    await this.ip(this.inetNs, `link set ${port} master pub up`);
    await this.ip(ns, `addr add ${ip}/24 dev ${ifname}`);
    await this.ip(ns, `link set ${ifname} up`);
    return { name, ns, ip };
  }

  /** Loads a NAT router's ruleset and turns on forwarding with the harness's UDP timeouts. */
  private async natRouter(ns: string, rules: { masquerade: string; dmzHost?: string }, r: Router, loss?: number): Promise<void> {
    await exec(ns, ["nft", "-f", "-"], { stdin: routerRuleset(rules, r, loss), check: true });
    await this.sysctl(ns, "net.ipv4.ip_forward", "1");
    await this.sysctl(ns, "net.netfilter.nf_conntrack_udp_timeout", String(UDP_TIMEOUT_S));
    await this.sysctl(ns, "net.netfilter.nf_conntrack_udp_timeout_stream", String(UDP_TIMEOUT_S));
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
