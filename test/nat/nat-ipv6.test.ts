// IPv6 through real stateful firewalls: dual-stack hosts behind home routers
// that NAT IPv4 and route IPv6 with an "answers only" firewall. The clients
// register over IPv4, add their IPv6 address (Register.additional), punch
// both families, and settle on IPv6 — even when their IPv4 NATs are hard
// (random ports), where IPv4 alone would need the relay.
import { expect, test } from "bun:test";
import { bothConnected, CLIENT_BIN, natDescribe, PORT, SERVER_BIN, chat, text, withOutputs, type Pair, apart } from "./e2e.ts";
import type { Internet, Line, Proc } from "./harness.ts";
import { enableIpv6, type V6Addresses } from "./ipv6.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const configRoot = mkdtempSync(join(tmpdir(), "hp-nat6-"));

async function startDualStackServer(net: Internet): Promise<Proc> {
  const server = net.spawn(net.server.ns, [SERVER_BIN, "--host", "::", "--port", String(PORT), "--log-format", "json"]);
  await server.waitFor((l) => text(l).includes("listening on"), 10_000, { stream: "stderr", what: '"listening on"' });
  return server;
}

function dualClient(net: Internet, pair: Pair, who: "alice" | "bob", args: string[]): Proc {
  const host = who === "alice" ? pair.alice : pair.bob;
  // The server is given by its IPv4 address, as most users would: IPv6 is found, not configured.
  return net.spawn(host.ns, [CLIENT_BIN, `198.18.0.1:${PORT}`, ...args, "--json", "--verbose"], { env: { XDG_CONFIG_HOME: join(configRoot, host.ns) } });
}

/** The address a client's session uses now: its last `path` event, else its `connected` one. */
function currentAddress(p: Proc): string | undefined {
  const events = p.lines.filter((l: Line) => l?.event === "connected" || l?.event === "path");
  const last = events[events.length - 1];
  return last ? `${last.path} ${last.address}` : undefined;
}

async function settlesOnV6(p: Proc, peerV6: string): Promise<void> {
  await p.waitFor(() => currentAddress(p) === `direct [${peerV6}]:${portOfPeer(p, peerV6)}`, 10_000, { what: `a direct path to ${peerV6}` });
}

/** The port the peer uses on IPv6 (the same socket as IPv4: one dual-stack socket). */
function portOfPeer(p: Proc, peerV6: string): string {
  const hit = p.lines.map((l: Line) => String(l?.address ?? "")).find((a) => a.startsWith(`[${peerV6}]:`));
  return hit ? hit.slice(hit.lastIndexOf(":") + 1) : "?";
}

async function runCase(net: Internet, pair: Pair, v6: V6Addresses): Promise<void> {
  await startDualStackServer(net);
  const alice = dualClient(net, pair, "alice", ["alice"]);
  await alice.waitForEvent("registered", 10_000);
  // The second registration, over IPv6, before bob asks for alice.
  await alice.waitFor((l) => text(l).includes("registered a second address"), 10_000, { stream: "stderr", what: "alice's IPv6 registration" });
  const bob = dualClient(net, pair, "bob", ["bob", "alice"]);
  await bothConnected(alice, bob);
  await settlesOnV6(alice, v6.get(pair.bob.name)!);
  await settlesOnV6(bob, v6.get(pair.alice.name)!);
  await chat(bob, "bob", alice);
  await chat(alice, "alice", bob);
  // Nothing went through the relay.
  for (const p of [alice, bob]) expect(p.lines.filter((l: Line) => l?.path === "relay")).toEqual([]);
}

natDescribe("IPv6 behind stateful firewalls", (fresh) => {
  const cases: Array<[string, (net: Internet) => Promise<Pair>]> = [
    ["cone ↔ cone, both dual-stack: the session settles on IPv6", apart("cone", "cone")],
    ["random ↔ random (hard IPv4 NATs), both dual-stack: direct over IPv6, no relay", apart("random", "random")],
  ];
  for (const [name, build] of cases) {
    test(name, async () => {
      const net = await fresh();
      const pair = await build(net);
      const v6 = await enableIpv6(net, [pair.aliceSite, pair.bobSite]);
      expect(v6.size).toBe(2);
      await withOutputs(net, () => runCase(net, pair, v6));
    }, 60_000);
  }

});
