// Streams end to end through hp-client processes on loopback (the real CLI,
// the real session and transport): --pipe carries random bytes intact both
// ways, and --forward / --expose carry an HTTP exchange over a TCP stream.
import { afterEach, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";

const CLI = join(import.meta.dir, "../src/cli/client.ts");
const configHome = mkdtempSync(join(tmpdir(), "hp-streams-"));
process.on("exit", () => rmSync(configHome, { recursive: true, force: true }));
const env = (who: string) => ({ ...process.env, XDG_CONFIG_HOME: join(configHome, who) });

let server: RunningServer | undefined;
const procs: Subprocess[] = [];
const stops: Array<() => void> = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
  for (const s of stops.splice(0)) s();
  server?.stop();
  server = undefined;
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function waitFor(p: { stderr: ReadableStream<Uint8Array> }, what: RegExp, ms = 10_000): Promise<void> {
  // The logs go to stderr; read until the line shows up.
  const reader = p.stderr.getReader();
  let text = "";
  const until = performance.now() + ms;
  while (!what.test(text)) {
    if (performance.now() > until) throw new Error(`timeout waiting for ${what}: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited before ${what}: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

test("--pipe: 2 MiB of random bytes each way arrive byte-identical; both sides exit 0", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${server.port}`;
  const toBob = randomBytes(2 * 1024 * 1024);
  const toAlice = randomBytes(512 * 1024 + 7);
  const alice = Bun.spawn(["bun", CLI, addr, "alice", "--pipe"], { stdin: new Blob([toBob]), stdout: "pipe", stderr: "pipe", env: env("alice") });
  procs.push(alice);
  await waitFor(alice, /registered as alice/);
  const bob = Bun.spawn(["bun", CLI, addr, "bob", "alice", "--pipe"], { stdin: new Blob([toAlice]), stdout: "pipe", stderr: "pipe", env: env("bob") });
  procs.push(bob);
  const [atBob, atAlice] = await Promise.all([new Response(bob.stdout).arrayBuffer(), new Response(alice.stdout).arrayBuffer()]);
  expect(await bob.exited).toBe(0);
  expect(await alice.exited).toBe(0);
  expect(atBob.byteLength).toBe(toBob.length);
  expect(sha(new Uint8Array(atBob))).toBe(sha(toBob));
  expect(sha(new Uint8Array(atAlice))).toBe(sha(toAlice));
}, 60_000);

test("--forward tcp / --expose tcp: an HTTP request and a 300 kB answer go through a TCP stream", async () => {
  const body = "x".repeat(300_000);
  const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`${new URL(req.url).pathname} ${body}`) });
  stops.push(() => web.stop(true));
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${server.port}`;
  const alice = Bun.spawn(["bun", CLI, addr, "alice", "--expose", `tcp:127.0.0.1:${web.port}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("alice-x") });
  procs.push(alice);
  await waitFor(alice, /registered as alice/);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const bob = Bun.spawn(["bun", CLI, addr, "bob", "alice", "--forward", `tcp:${port}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("bob-x") });
  procs.push(bob);
  await waitFor(bob, /connected to alice/);
  for (const path of ["/one", "/two"]) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`${path} ${body}`);
  }
}, 60_000);

test("--expose refuses a forward that names no exposed target", async () => {
  const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("never") });
  stops.push(() => web.stop(true));
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${server.port}`;
  const alice = Bun.spawn(["bun", CLI, addr, "alice", "--expose", `tcp:127.0.0.1:${web.port}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("alice-r") });
  procs.push(alice);
  await waitFor(alice, /registered as alice/);
  const port = 20000 + Math.floor(Math.random() * 20000);
  // Bob asks for target port 1, which alice does not expose.
  const bob = Bun.spawn(["bun", CLI, addr, "bob", "alice", "--forward", `tcp:${port}:1`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("bob-r") });
  procs.push(bob);
  await waitFor(bob, /connected to alice/);
  const r = await fetch(`http://127.0.0.1:${port}/`).then(
    (res) => `status ${res.status}`,
    () => "refused",
  );
  expect(r).toBe("refused");
}, 60_000);

test("--forward udp / --expose udp: datagrams echo through the tunnel both ways, per-flow", async () => {
  const echo = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (s, buf, port, ip) => void s.send(buf, port, ip), error() {} } });
  stops.push(() => echo.close());
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${server.port}`;
  const alice = Bun.spawn(["bun", CLI, addr, "alice", "--expose", `udp:127.0.0.1:${echo.port}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("alice-u") });
  procs.push(alice);
  await waitFor(alice, /registered as alice/);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const bob = Bun.spawn(["bun", CLI, addr, "bob", "alice", "--forward", `udp:${port}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: env("bob-u") });
  procs.push(bob);
  await waitFor(bob, /connected to alice/);
  // Two local sources (two flows): each gets its own echoes back.
  const got = new Map<number, string[]>();
  const sockets = await Promise.all(
    [0, 1].map(() => Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (s, buf) => void got.get(s.port)!.push(Buffer.from(buf).toString()), error() {} } })),
  );
  for (const s of sockets) {
    got.set(s.port, []);
    stops.push(() => s.close());
  }
  for (let round = 0; round < 20 && [...got.values()].some((v) => v.length < 10); round++) {
    for (const [i, s] of sockets.entries()) for (let k = 0; k < 10; k++) if (!got.get(s.port)!.includes(`s${i} ${k}`)) s.send(`s${i} ${k}`, port, "127.0.0.1");
    await Bun.sleep(100);
  }
  for (const [i, s] of sockets.entries()) expect(new Set(got.get(s.port))).toEqual(new Set(Array.from({ length: 10 }, (_, k) => `s${i} ${k}`)));
}, 60_000);
