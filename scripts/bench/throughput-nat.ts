// Stream throughput across the NAT harness: 32 MiB through hp-client --pipe
// (encrypted, the transport's congestion control) from bob behind one cone
// NAT to alice behind another, beside plain UDP from bob's host through its
// NAT to a sink on the public segment (the same kind of path: veths, bridge,
// nftables NAT; one NAT instead of two). Needs root, ip and nft.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRunNatTests, Internet } from "../../test/nat/harness.ts";

const MiB = 1024 * 1024;
const PIPE_BYTES = 32 * MiB;
const BLAST_MS = 3000;
const SINK_PORT = 7300;

export async function benchThroughputNat(): Promise<Array<[string, string]>> {
  const can = canRunNatTests();
  if (!can.ok) return [["throughput across the NAT harness", `skipped: ${can.reason}`]];
  const e2e = await import("../../test/nat/e2e.ts");
  await e2e.ensureBuilt();
  const work = mkdtempSync(join(tmpdir(), "hp-bench-tp-"));
  const net = await Internet.create();
  try {
    const pair = await e2e.apart("cone", "cone")(net);
    await e2e.startServer(net);
    // Plain UDP: bob's host blasts 1100-byte datagrams through its NAT to a sink on the public segment.
    const sinkScript = `let n=0;const s=await Bun.udpSocket({hostname:"0.0.0.0",port:${SINK_PORT},socket:{data(_s,b){n+=b.length},error(){}}});console.log("up");setTimeout(()=>{console.log(JSON.stringify({bytes:n}));process.exit(0)},${BLAST_MS + 1500});`;
    const sink = net.spawn(net.server.ns, [process.execPath, "-e", sinkScript]);
    await sink.waitFor((l) => e2e.text(l).includes("up"), 10_000, { what: "sink" });
    const blastScript = `const s=await Bun.udpSocket({port:0,socket:{data(){},error(){}}});const p=new Uint8Array(1100);const batch=[];for(let i=0;i<64;i++)batch.push(p,${SINK_PORT},"${net.server.ip}");const end=performance.now()+${BLAST_MS};while(performance.now()<end){s.sendMany(batch);await new Promise(r=>setImmediate(r));}process.exit(0);`;
    const blaster = net.spawn(pair.bob.ns, [process.execPath, "-e", blastScript]);
    await blaster.waitExit(BLAST_MS + 10_000);
    const sunk = await sink.waitFor((l) => typeof l === "object" && l !== null && "bytes" in l, BLAST_MS + 5_000, { what: "sink total" });
    const plain = Number((sunk as { bytes: number }).bytes) / (BLAST_MS / 1000);

    // The stream: bob --pipe < 32 MiB > /dev/null, alice --pipe > file.
    const input = join(work, "in.bin");
    const output = join(work, "out.bin");
    const data = randomBytes(PIPE_BYTES);
    writeFileSync(input, data);
    const alice = e2e.shellClient(net, pair.alice, "alice --pipe", `< /dev/null > ${output}`);
    await alice.waitFor((l) => e2e.text(l).includes("registered"), 15_000, { stream: "stderr", what: "alice registered" });
    const bob = e2e.shellClient(net, pair.bob, "bob alice --pipe --no-relay", `< ${input} > /dev/null`);
    await bob.waitFor((l) => e2e.text(l).includes("connected"), 20_000, { stream: "stderr", what: "bob connected" });
    const t0 = performance.now();
    await alice.waitExit(300_000);
    const seconds = (performance.now() - t0) / 1000;
    const ok = createHash("sha256").update(readFileSync(output)).digest("hex") === createHash("sha256").update(data).digest("hex");
    const rate = PIPE_BYTES / seconds;
    return [
      ["throughput across the NAT harness: plain UDP, bob's host → public sink through its cone NAT", `${(plain / 1e6).toFixed(1)} MB/s (1100 B datagrams, sendMany × 64, ${BLAST_MS / 1000} s)`],
      [
        "throughput across the NAT harness: stream (--pipe, encrypted), bob → alice through two cone NATs",
        `${(rate / 1e6).toFixed(1)} MB/s = ${(rate / plain).toFixed(2)} × plain UDP (${PIPE_BYTES / MiB} MiB in ${seconds.toFixed(1)} s from bob connected; SHA-256 ${ok ? "matches" : "MISMATCH"})`,
      ],
    ];
  } finally {
    await net.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  for (const [k, v] of await benchThroughputNat()) console.log(`| ${k} | ${v} |`);
}
