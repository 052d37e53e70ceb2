// Streams through real NATs, with the compiled binaries: 20 MiB through
// --pipe across two cone NATs dropping 10 % of packets each way on their WAN
// links arrives byte-identical; an HTTP request from a host behind one NAT
// reaches a web server behind the other through --forward / --expose.
import { expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apart, natDescribe, shellClient, startServer, text, withOutputs } from "./e2e.ts";

const work = mkdtempSync(join(tmpdir(), "hp-nat-streams-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

natDescribe("streams through real NATs", (fresh) => {
  test("--pipe: 20 MiB across two cone NATs with 10 % loss each way arrives byte-identical", async () => {
    const net = await fresh();
    const pair = await apart("cone", "cone", 10)(net);
    await withOutputs(net, async () => {
      await startServer(net);
      const input = join(work, "in.bin");
      const output = join(work, "out.bin");
      const data = randomBytes(20 * 1024 * 1024);
      writeFileSync(input, data);
      const alice = shellClient(net, pair.alice, "alice --pipe", `< /dev/null > ${output}`);
      await alice.waitFor((l) => text(l).includes("registered"), 15_000, { stream: "stderr", what: "alice registered" });
      const bob = shellClient(net, pair.bob, "bob alice --pipe", `< ${input} > /dev/null`);
      expect(await bob.waitExit(240_000)).toBe(0);
      expect(await alice.waitExit(30_000)).toBe(0);
      const got = readFileSync(output);
      expect(got.length).toBe(data.length);
      expect(sha(got)).toBe(sha(data));
    });
  }, 300_000);

  test("--forward tcp / --expose tcp: HTTP from behind one NAT to a server behind the other", async () => {
    const net = await fresh();
    const pair = await apart("cone", "random")(net);
    await withOutputs(net, async () => {
      await startServer(net);
      // A web server on alice's host (in her namespace), reachable only from there.
      const page = "hello from behind the other NAT";
      const web = net.spawn(pair.alice.ns, [process.execPath, "-e", `Bun.serve({ hostname: "127.0.0.1", port: 8080, fetch: () => new Response(${JSON.stringify(page)}) }); console.log("up")`]);
      await web.waitFor((l) => text(l).includes("up"), 10_000, { what: "web server" });
      const alice = shellClient(net, pair.alice, "alice --expose tcp:127.0.0.1:8080", "< /dev/null");
      await alice.waitFor((l) => text(l).includes("registered"), 15_000, { stream: "stderr", what: "alice registered" });
      const bob = shellClient(net, pair.bob, "bob alice --forward tcp:9000", "< /dev/null");
      await bob.waitFor((l) => text(l).includes("connected"), 20_000, { stream: "stderr", what: "bob connected" });
      const curl = await net.exec(pair.bob.ns, [process.execPath, "-e", `const r = await fetch("http://127.0.0.1:9000/"); console.log(r.status, await r.text())`]);
      expect(curl.stdout.trim()).toBe(`200 ${page}`);
    });
  }, 120_000);
});
