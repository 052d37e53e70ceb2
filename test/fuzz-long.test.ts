// The long fuzz run (scripts/fuzz.ts) as part of the suite: 1,000,000 random
// and mutated datagrams against the server and a connected client.
import { expect, test } from "bun:test";
import { join } from "node:path";

test("1,000,000 fuzzed datagrams: no crash, no unhandled rejection, bounded memory, the session survives", async () => {
  const p = Bun.spawn([process.execPath, join(import.meta.dir, "../scripts/fuzz.ts"), "1000000"], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
  console.log(`fuzz report: ${out.trim()}`);
  expect({ code, err: err.slice(0, 2000) }).toEqual({ code: 0, err: "" });
  expect(report.datagrams).toBe(1_000_000);
  expect(report.failures).toBe(0);
  expect(report.session_survived).toBe(true);
}, 180_000);
