// NAT discovery: the mapping classifier as a table, and the real probe on loopback.
import { describe, expect, test } from "bun:test";
import { classify, natCheck } from "../src/client/nat-check.ts";
import { startClient, type RunningClient } from "../src/client/udp-client.ts";
import { MappingKind } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { startServer } from "../src/server/udp-server.ts";

describe("classify mappings [s1->main, s1->alt, s2->main, s2->alt]", () => {
  const ip = ["198.18.0.4", "198.18.0.4", "198.18.0.4", "198.18.0.4"];
  const table: Array<[string, number[], ReturnType<typeof classify>]> = [
    ["one port for every destination", [40000, 40000, 40001, 40001], { mapping: "endpoint-independent" }],
    ["sequential, step 1", [40000, 40001, 40002, 40003], { mapping: "endpoint-dependent-sequential", step: 1 }],
    ["sequential, step 2", [1024, 1026, 1028, 1030], { mapping: "endpoint-dependent-sequential", step: 2 }],
    ["random", [40000, 51234, 1099, 33333], { mapping: "endpoint-dependent-random" }],
    ["steps too large to predict", [1000, 1100, 1200, 1300], { mapping: "endpoint-dependent-random" }],
    ["too few answers", [40000], { mapping: "unknown" }],
  ];
  for (const [name, ports, want] of table) test(name, () => expect(classify(ports, ip.slice(0, ports.length))).toEqual(want));
  test("same port but another address is not endpoint-independent", () => {
    expect(classify([40000, 40000], ["198.18.0.4", "198.18.0.5"]).mapping).toBe("endpoint-dependent-random");
  });
  test("with a STUN server asked after our two ports, from each socket: time order decides sequential", () => {
    const ip6 = Array(6).fill("198.18.0.4");
    // Asked: s1->main, s1->alt, s2->main, s2->alt, s1->stun, s2->stun.
    expect(classify([40000, 40001, 40002, 40003, 40004, 40005], ip6, [1, 1, 2, 2, 1, 2])).toEqual({ mapping: "endpoint-dependent-sequential", step: 1 });
    expect(classify([40000, 40000, 41000, 41000, 40000, 41000], ip6, [1, 1, 2, 2, 1, 2])).toEqual({ mapping: "endpoint-independent" });
    expect(classify([40000, 40000, 41000, 41000, 40007, 41000], ip6, [1, 1, 2, 2, 1, 2]).mapping).toBe("endpoint-dependent-random");
  });
});

test("loopback: no NAT, so one mapping for both server ports, port kept", async () => {
  const server = await startServer({ host: "127.0.0.1", port: 0 });
  try {
    const r = await natCheck(`127.0.0.1:${server.port}`);
    expect(r).toMatchObject({ udp: true, mapping: "endpoint-independent", portPreserved: true });
    expect(r.observations.map((o) => o.server)).toEqual([
      `127.0.0.1:${server.port}`,
      `127.0.0.1:${server.altPort}`,
      `127.0.0.1:${server.port}`,
      `127.0.0.1:${server.altPort}`,
    ]);
  } finally {
    server.stop();
  }
});

test("--alt-host on another IP (127.0.0.2): --nat-check and a registering client both ask it there", async () => {
  const server = await startServer({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2" });
  let client: RunningClient | undefined;
  try {
    const r = await natCheck(`127.0.0.1:${server.port}`);
    expect(r.observations.map((o) => o.server)).toEqual([
      `127.0.0.1:${server.port}`,
      `127.0.0.2:${server.altPort}`,
      `127.0.0.1:${server.port}`,
      `127.0.0.2:${server.altPort}`,
    ]);
    expect(r.mapping).toBe("endpoint-independent");
    client = await startClient({ server: `127.0.0.1:${server.port}`, name: "alice", identity: generateIdentity(), onEvent() {} });
    for (let i = 0; i < 100 && client.client.server.mapping === MappingKind.UNSPECIFIED; i++) await Bun.sleep(20);
    expect(client.client.server.mapping).toBe(MappingKind.INDEPENDENT);
    expect(client.client.server.natAlt).toEqual({ ip: "127.0.0.2", port: server.altPort! });
  } finally {
    client?.stop();
    server.stop();
  }
});

test("no server: UDP reported as not working", async () => {
  const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {}, error() {} } });
  const port = probe.port;
  probe.close();
  expect(await natCheck(`127.0.0.1:${port}`, 300)).toMatchObject({ udp: false, mapping: "unknown" });
});
