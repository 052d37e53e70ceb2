// `bun run bench`: codec, server request rates, connect time, memory per
// registration. Numbers vary ±15–20 % run to run on shared machines: compare
// rows of one run, not runs. `--write` also saves docs/benchmarks.md.
import { cpus, totalmem } from "node:os";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchCodec } from "./bench/codec.ts";
import { benchConnect } from "./bench/connect.ts";
import { benchMemory } from "./bench/memory.ts";
import { benchServer } from "./bench/server-load.ts";

const rows: Array<[string, string]> = [];
const section = async (name: string, fn: () => Array<[string, string]> | Promise<Array<[string, string]>>) => {
  process.stderr.write(`bench: ${name}…\n`);
  rows.push(...(await fn()));
};
await section("codec", benchCodec);
await section("server load", benchServer);
await section("stun vs coturn", async () => (await import("./bench/stun.ts")).benchStun());
await section("connect", () => benchConnect());
await section("memory", benchMemory);

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Bun ${Bun.version}, ${process.platform}`;
const table = ["| benchmark | result |", "|---|---|", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
console.log(`${machine}\n\n${table}`);
if (process.argv.includes("--write")) {
  const doc = `# Benchmarks\n\nMeasured by \`bun run bench -- --write\` on ${new Date().toISOString().slice(0, 10)}: ${machine}.\nServer load: hp-server in its own process on 127.0.0.1 with \`--rate 0\`; a JS load generator (32 sockets × 8 requests in flight, closed loop) in another. The generator shares the machine's 2 cores with the server, so the replies/s column is a floor; the server's CPU µs per reply (from /proc) is the figure that does not depend on the generator.\n\n${table}\n`;
  writeFileSync(join(import.meta.dir, "../docs/benchmarks.md"), doc);
}
