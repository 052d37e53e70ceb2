// Server memory per registration: a fresh process registers N clients
// (synthetic Registers from N distinct addresses, through the real handler)
// and reports heap and RSS growth per client. Run as a child per N.
import { encodePacket } from "../../src/protocol/packet.ts";
import { Rendezvous } from "../../src/server/rendezvous.ts";

if (import.meta.main) {
  const n = Number(process.argv[2]);
  const core = new Rendezvous({
    send: () => {},
    now: () => performance.now(),
    maxClients: n + 1,
    ratePerSecond: Number.POSITIVE_INFINITY,
    rateBurst: Number.POSITIVE_INFINITY,
  });
  Bun.gc(true);
  const before = process.memoryUsage();
  const instance = new Uint8Array(16);
  const dv = new DataView(instance.buffer);
  for (let i = 0; i < n; i++) {
    dv.setUint32(0, i);
    const pkt = encodePacket({
      case: "register",
      value: { $typeName: "holepunch.v1.Register", name: `client-${i}`, instance, localAddresses: [], software: "bench" },
    });
    core.handle(pkt, { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) });
  }
  Bun.gc(true);
  const after = process.memoryUsage();
  if (core.registry.size !== n) throw new Error(`registered ${core.registry.size}, wanted ${n}`);
  console.log(JSON.stringify({ heap: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n }));
}

export async function benchMemory(): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const n of [100_000, 1_000_000]) {
    const p = Bun.spawnSync([process.execPath, import.meta.path, String(n)], { stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(p.stderr.toString());
    const r = JSON.parse(p.stdout.toString()) as { heap: number; rss: number };
    out.push([`server memory at ${n.toLocaleString("en")} registrations`, `${Math.round(r.heap)} B heap, ${Math.round(r.rss)} B RSS per client`]);
  }
  return out;
}
