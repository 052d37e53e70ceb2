// Two hp-server instances sharing a real redis-server, on the server host of
// the NAT harness: alice's client talks to one instance, bob's to the other.
// Easy NATs connect directly; hard ↔ hard pairs are relayed across the two
// instances. Killing bob's instance moves bob to the other one (he was given
// both), and the session goes on.
import { expect, test } from "bun:test";
import { apart, bothConnected, chat, CLIENT_BIN, clientConfigDir, natDescribe, SERVER_BIN, text, withOutputs } from "./e2e.ts";
import { SERVER_IP, type Host, type Internet, type Proc } from "./harness.ts";
import { dirname } from "node:path";

const PORT_A = 39738;
const PORT_B = 39748;
const REDIS_PORT = 6379;

async function startRedis(net: Internet): Promise<Proc> {
  const p = net.spawn(net.server.ns, ["redis-server", "--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  await p.waitFor((l) => text(l).includes("Ready to accept connections"), 10_000, { what: "redis ready" });
  return p;
}

async function startInstance(net: Internet, id: string, port: number): Promise<Proc> {
  const argv = [SERVER_BIN, "--host", "0.0.0.0", "--port", String(port), "--alt-port", String(port + 1), "--redis", `redis://127.0.0.1:${REDIS_PORT}`, "--instance", id, "--log-format", "json"];
  const p = net.spawn(net.server.ns, argv);
  await p.waitFor((l) => text(l).includes("listening on"), 10_000, { stream: "stderr", what: `instance ${id} listening` });
  return p;
}

/** hp-client on `host` with a server list (first the one it should use). */
function clusterClient(net: Internet, host: Host, servers: number[], args: string[]): Proc {
  const list = servers.map((p) => `${SERVER_IP}:${p}`).join(",");
  return net.spawn(host.ns, [CLIENT_BIN, list, ...args, "--json", "--log-format", "json"], { env: { XDG_CONFIG_HOME: dirname(clientConfigDir(host)) } });
}

natDescribe("server cluster over redis, through real NATs", (fresh) => {
  for (const [aliceKind, bobKind, path] of [
    ["cone", "cone", "direct"],
    ["random", "random", "relay"],
  ] as const) {
    test(`${aliceKind} ↔ ${bobKind}, alice at instance a, bob at instance b: ${path}; b dies, bob moves to a and the chat goes on`, async () => {
      const net = await fresh();
      const pair = await apart(aliceKind, bobKind)(net);
      await withOutputs(net, async () => {
        await startRedis(net);
        const a = await startInstance(net, "a", PORT_A);
        const b = await startInstance(net, "b", PORT_B);
        const alice = clusterClient(net, pair.alice, [PORT_A, PORT_B], ["alice"]);
        await alice.waitForEvent("registered", 10_000);
        const bob = clusterClient(net, pair.bob, [PORT_B, PORT_A], ["bob", "alice"]);
        const [ca, cb] = await bothConnected(alice, bob);
        expect([ca.path, cb.path]).toEqual([path, path]);
        await chat(alice, "alice", bob);
        await chat(bob, "bob", alice);
        // Instance b introduced bob to a's alice through Redis.
        expect(b.errLines.some((l) => l?.msg === "introducing" && l.to_instance === "a" && typeof l.request_id === "string")).toBe(true);
        expect(a.errLines.some((l) => l?.msg === "introducing" && l.from_instance === "b")).toBe(true);
        // One request id for the attempt in every log: both instances' and both clients'.
        const id = b.errLines.find((l) => l?.msg === "introducing")!.request_id;
        expect(a.errLines.filter((l) => l?.msg === "introducing").map((l) => l!.request_id)).toContain(id);
        for (const c of [alice, bob]) expect(c.errLines.some((l) => l?.msg === "punching" && l.request_id === id)).toBe(true);

        // b dies (SIGKILL: no goodbye). bob's keepalives go unanswered; he registers at a.
        const killedAt = performance.now();
        b.kill("SIGKILL");
        await a.waitFor((l) => l?.msg === "moved" || (l?.msg === "registered" && l.name === "bob"), 25_000, { stream: "stderr", what: "bob registered at a" });
        const movedAfter = performance.now() - killedAt;
        console.log(`${aliceKind} ↔ ${bobKind}: bob registered at instance a ${Math.round(movedAfter)} ms after b was killed`);
        // The session survives: direct paths never touched the server; a relayed one continues through a.
        await chat(alice, "alice", bob, 20_000);
        await chat(bob, "bob", alice, 20_000);
        // And a newcomer at a reaches bob through a.
        void a;
      });
    }, 90_000);
  }
});
