// Server memory per registration: a fresh process fills the registry with N
// clients from N distinct addresses and reports heap and RSS growth per
// client. Run as a child per N.
import { Registry } from "../../src/server/registry.ts";

if (import.meta.main) {
  const n = Number(process.argv[2]);
  // The registry as the server holds it: name, 32-byte key, 16-byte secret, address, expiry.
  // (Filled directly: signing and verifying 1M registrations would take minutes.)
  const registry = new Registry(n + 1, 45_000);
  Bun.gc(true);
  const before = process.memoryUsage();
  for (let i = 0; i < n; i++) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const secret = crypto.getRandomValues(new Uint8Array(16));
    const addr = { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) };
    registry.register(`client-${i}`, key, secret, addr, [], 0);
  }
  Bun.gc(true);
  const after = process.memoryUsage();
  if (registry.size !== n) throw new Error(`registered ${registry.size}, wanted ${n}`);
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
