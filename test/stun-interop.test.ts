// STUN interop with independent implementations, on loopback:
// - Debian's `stun` client (package stun-client, RFC 3489 "classic" STUN
//   with CHANGE-REQUEST) asks hp-server and gets its own address back;
// - hp-client uses coturn (`turnserver`, STUN only) as a STUN server, in
//   --nat-check and while registering, and learns the right address.
// scripts/setup.sh installs both packages; without them these tests fail
// (they are not skipped).
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { MappingKind } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { generateIdentity } from "../src/identity/keys.ts";
import { natCheck } from "../src/client/nat-check.ts";
import { startClient, type RunningClient } from "../src/client/udp-client.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import { decodeStun, encodeBindingRequest, newTransactionId } from "../src/stun/codec.ts";

let server: RunningServer | undefined;
let client: RunningClient | undefined;
let coturn: { proc: Bun.Subprocess; port: number } | undefined;

afterEach(() => {
  client?.stop();
  client = undefined;
  server?.stop();
  server = undefined;
});

/** Starts coturn STUN-only on 127.0.0.1 and waits until it answers a Binding request. */
async function startCoturn(): Promise<{ proc: Bun.Subprocess; port: number }> {
  if (!Bun.which("turnserver")) throw new Error("turnserver not found: install coturn (scripts/setup.sh does, as root)");
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const proc = Bun.spawn(
      ["turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp", "--listening-ip", "127.0.0.1", "--listening-port", String(port),
        "-m", "1", "--log-file", "stdout", "--simple-log", "--pidfile", `/tmp/hp-coturn-${process.pid}.pid`],
      { stdout: "ignore", stderr: "ignore" },
    );
    if (await answersBinding(port)) return { proc, port };
    proc.kill();
  }
  throw new Error("coturn did not start answering STUN on 127.0.0.1");
}

async function answersBinding(port: number): Promise<boolean> {
  let answered = false;
  const sock = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (_s, buf) => void (answered = decodeStun(new Uint8Array(buf)).cls === "success"), error() {} } });
  try {
    for (let i = 0; i < 50 && !answered; i++) {
      sock.send(encodeBindingRequest({ transactionId: newTransactionId() }), port, "127.0.0.1");
      await Bun.sleep(100);
    }
  } finally {
    sock.close();
  }
  return answered;
}

beforeAll(async () => {
  coturn = await startCoturn();
}, 30_000);

afterAll(() => {
  coturn?.proc.kill();
});

test("Debian's stun client (RFC 3489) gets its own address from hp-server", async () => {
  if (!Bun.which("stun")) throw new Error("stun not found: install stun-client (scripts/setup.sh does, as root)");
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const p = Bun.spawn(["stun", `127.0.0.1:${server.port}`, "-v"], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill(), 15_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  await p.exited;
  const text = out + err;
  const opened = /Opened port (\d+) with fd 3/.exec(text)?.[1];
  const mapped = /MappedAddress = ([\d.]+):(\d+)/.exec(text);
  expect(opened).toBeDefined();
  expect(mapped?.[1]).toBe("127.0.0.1");
  expect(mapped?.[2]).toBe(opened!);
  expect(server.core.stats.get("stun_classic")).toBeGreaterThan(0);
}, 30_000);

test("hp-client --nat-check asks coturn too: same mapping as our server sees, verdict easy", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const report = await natCheck(`127.0.0.1:${server.port}`, 3000, [{ ip: "127.0.0.1", port: coturn!.port }]);
  const fromCoturn = report.observations.filter((o) => o.server === `stun 127.0.0.1:${coturn!.port}`);
  expect(fromCoturn).toHaveLength(2);
  for (const o of fromCoturn) {
    const ours = report.observations.find((x) => x.socket === o.socket && x.server === `127.0.0.1:${server!.port}`);
    expect(o.observed).toBe(ours!.observed);
  }
  expect(report.mapping).toBe("endpoint-independent");
}, 30_000);

test("a registering client with --stun coturn and a server without an alternate port still learns its mapping", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, altPort: false });
  const events: unknown[] = [];
  client = await startClient({
    server: `127.0.0.1:${server.port}`,
    name: "alice",
    identity: generateIdentity(),
    stun: [`127.0.0.1:${coturn!.port}`],
    onEvent: (e) => events.push(e),
  });
  for (let i = 0; i < 100 && client.client.server.mapping === MappingKind.UNSPECIFIED; i++) await Bun.sleep(50);
  expect(client.client.server.mapping).toBe(MappingKind.INDEPENDENT);
  expect(events).toContainEqual(expect.objectContaining({ event: "registered" }));
}, 30_000);
