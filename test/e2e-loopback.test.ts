// End to end on 127.0.0.1: a real server and two real clients (library and
// CLI), in both orders of start, chatting both ways.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startClient, type RunningClient } from "../src/client/udp-client.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import { EventLog } from "./support/events.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

// CLI processes keep their identity and known peers under a throwaway config dir.
const configHome = mkdtempSync(join(tmpdir(), "hp-e2e-"));
process.on("exit", () => rmSync(configHome, { recursive: true, force: true }));
const cliEnv = (who: string) => ({ ...process.env, XDG_CONFIG_HOME: join(configHome, who) });

let server: RunningServer | undefined;
const clients: RunningClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
  server?.stop();
});

async function peer(name: string, peerName?: string) {
  const log = new EventLog();
  const c = await startClient({ server: `127.0.0.1:${server!.port}`, name, identity: generateIdentity(), peer: peerName, onEvent: log.push });
  clients.push(c);
  return { c, log };
}

describe("library, loopback", () => {
  for (const order of ["listener first", "initiator first"] as const) {
    test(order, async () => {
      server = await startServer({ host: "127.0.0.1", port: 0 });
      let alice, bob;
      if (order === "listener first") {
        alice = await peer("alice");
        await alice.log.waitEvent("registered");
        bob = await peer("bob", "alice");
      } else {
        bob = await peer("bob", "alice");
        await bob.log.waitEvent("registered");
        await Bun.sleep(300); // bob's first requests find no alice
        alice = await peer("alice");
      }
      const [ca, cb] = await Promise.all([alice.log.waitEvent("connected"), bob.log.waitEvent("connected")]);
      expect(ca).toMatchObject({ peer: "bob", path: "direct", address: `127.0.0.1:${bob.c.port}` });
      expect(cb).toMatchObject({ peer: "alice", path: "direct", address: `127.0.0.1:${alice.c.port}` });
      bob.c.client.sendLine("hello alice");
      alice.c.client.sendLine("hello bob ✓");
      await alice.log.waitMessage("hello alice");
      await bob.log.waitMessage("hello bob ✓");
    });
  }
});

describe("CLI, loopback", () => {
  const cli = join(import.meta.dir, "../src/cli");
  const spawnLines = (argv: string[]) => {
    const p = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: cliEnv(argv[3] ?? "x") });
    const lines: string[] = [];
    const waiters: Array<[RegExp, (l: string) => void]> = [];
    (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of p.stdout) {
        buf += dec.decode(chunk);
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          for (const w of waiters.splice(0)) (w[0].test(line) ? w[1](line) : waiters.push(w));
        }
      }
    })();
    const waitLine = (re: RegExp, ms = 10_000) =>
      new Promise<string>((resolve, reject) => {
        const hit = lines.find((l) => re.test(l));
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`no line matching ${re} in ${ms} ms; got ${JSON.stringify(lines)}`)), ms);
        waiters.push([re, (l) => (clearTimeout(t), resolve(l))]);
      });
    return { p, lines, waitLine };
  };

  test("hp-server + two hp-client processes chat both ways; bob exits 0 at end of input", async () => {
    server = await startServer({ host: "127.0.0.1", port: 0 });
    const addr = `127.0.0.1:${server.port}`;
    const alice = spawnLines(["bun", join(cli, "client.ts"), addr, "alice", "--json"]);
    try {
      await alice.waitLine(/"event":"registered"/);
      const bob = spawnLines(["bun", join(cli, "client.ts"), addr, "bob", "alice"]);
      await alice.waitLine(/"event":"connected"/);
      bob.p.stdin.write("hi from bob\n");
      bob.p.stdin.flush();
      const m = JSON.parse(await alice.waitLine(/"event":"message"/));
      expect(m).toEqual({ event: "message", from: "bob", text: "hi from bob" });
      alice.p.stdin.write("hi from alice\n");
      alice.p.stdin.flush();
      expect(await bob.waitLine(/hi from alice/)).toBe("alice: hi from alice");
      bob.p.stdin.end();
      expect(await bob.p.exited).toBe(0);
      await alice.waitLine(/"event":"disconnected"/);
    } finally {
      alice.p.kill();
    }
  });

  test("unknown peer: one-line error, exit code 8", async () => {
    server = await startServer({ host: "127.0.0.1", port: 0 });
    const p = Bun.spawn(["bun", join(cli, "client.ts"), `127.0.0.1:${server.port}`, "bob", "carol", "--timeout", "2"], {
      env: cliEnv("bob"),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(8);
    const err = await new Response(p.stderr).text();
    expect(err).toContain('error: peer "carol" did not register within 2 s');
  });

  test("bad flags and names: one-line errors with distinct exit codes", () => {
    const run = (...args: string[]) => Bun.spawnSync(["bun", join(cli, "client.ts"), ...args], { stderr: "pipe", env: cliEnv("flags") });
    const badName = run("127.0.0.1", "bad name!");
    expect(badName.exitCode).toBe(4);
    expect(badName.stderr.toString()).toMatch(/^error: invalid name/);
    const badPort = run("127.0.0.1:99999", "alice");
    expect(badPort.exitCode).toBe(2);
    const badFlag = run("127.0.0.1", "alice", "--frobnicate");
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr.toString().trim().split("\n")).toHaveLength(1);
  });
});

test("IPv6 loopback: server on [::1], clients chat over IPv6", async () => {
  server = await startServer({ host: "::1", port: 0 });
  const alice = new EventLog();
  const bob = new EventLog();
  clients.push(await startClient({ server: `[::1]:${server.port}`, name: "alice", identity: generateIdentity(), onEvent: alice.push }));
  await alice.waitEvent("registered");
  clients.push(await startClient({ server: `[::1]:${server.port}`, name: "bob", identity: generateIdentity(), peer: "alice", onEvent: bob.push }));
  const c = await bob.waitEvent("connected");
  expect(c.address).toBe(`[::1]:${clients[0]!.port}`);
  await alice.waitEvent("connected");
  clients[1]!.client.sendLine("over v6");
  await alice.waitMessage("over v6");
});

test("server unreachable: hp-client gives up after 10 s with exit code 3", async () => {
  // A port nobody listens on: ICMP errors on an unconnected UDP socket must not crash the client.
  const probe = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {}, error() {} } });
  const deadPort = probe.port;
  probe.close();
  const p = Bun.spawn(["bun", join(import.meta.dir, "../src/cli/client.ts"), `127.0.0.1:${deadPort}`, "alice", "--json"], {
    env: cliEnv("alice"),
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await p.exited).toBe(3);
  const events = (await new Response(p.stdout).text()).trim().split("\n").map((l) => JSON.parse(l));
  expect(events).toEqual([{ event: "error", code: "SERVER_UNREACHABLE", message: "no answer from the server after 10 s" }]);
}, 20_000);
