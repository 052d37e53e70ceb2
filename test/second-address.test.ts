// Register.additional over real UDP: a dual-stack client registered over IPv4
// adds its IPv6 address (proved by a cookie of its own), and introductions
// offer both observed addresses. Loopback only: 127.0.0.1 and ::1.
import { afterEach, expect, test } from "bun:test";
import { ErrorCode, type Envelope } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { generateIdentity, type Identity } from "../src/identity/keys.ts";
import { formatAddr } from "../src/net/address.ts";
import { fromWireAddress } from "../src/protocol/wire-address.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import { hello, keepalive, punchRequest, registered, scriptClient, signedRegister, type ScriptClient } from "./support/script-client.ts";

let server: RunningServer | undefined;
const clients: ScriptClient[] = [];
const alice = generateIdentity();
const bob = generateIdentity();

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  server?.stop();
  server = undefined;
});

async function setup() {
  server = await startServer({
    host: "::",
    port: 0,
    altPort: false,
    serverIps: ["127.0.0.1", "::1"],
  });
}

async function client(host: "127.0.0.1" | "::1"): Promise<ScriptClient> {
  const c = await scriptClient(server!.port, host, host);
  clients.push(c);
  return c;
}

/** hello -> Challenge -> signed Register with `additional` set. */
async function addAddress(c: ScriptClient, name: string, id: Identity, txid = 7n): Promise<Envelope> {
  c.send(hello(name, id), txid);
  const ch = await c.next();
  if (ch.body.case !== "challenge") throw new Error(`expected a Challenge, got ${ch.body.case}`);
  c.send(signedRegister(name, id, ch.body.value.cookie, "", [], true), txid);
  return c.next();
}

const candidatesIn = (e: Envelope) => (e.body.case === "holePunchInitiate" ? e.body.value.candidates.map((c) => formatAddr(fromWireAddress(c.address!))) : []);
const errorCode = (e: Envelope) => (e.body.case === "error" ? e.body.value.code : `not an error: ${e.body.case}`);

test("the RegisterAck lists the server's addresses in the client's other family", async () => {
  await setup();
  const a4 = await client("127.0.0.1");
  a4.send(hello("alice", alice), 1n);
  const ch = await a4.next();
  if (ch.body.case !== "challenge") throw new Error(ch.body.case);
  a4.send(signedRegister("alice", alice, ch.body.value.cookie), 1n);
  const ack = await a4.next();
  if (ack.body.case !== "registerAck") throw new Error(ack.body.case);
  expect(ack.body.value.serverAddresses.map((a) => fromWireAddress(a).ip)).toEqual(["::1"]);
});

test("an additional Register adds the IPv6 address; Initiates offer both observed addresses", async () => {
  await setup();
  const a4 = await client("127.0.0.1");
  const a6 = await client("::1");
  await registered(a4, "alice", alice);
  const ack = await addAddress(a6, "alice", alice);
  if (ack.body.case !== "registerAck") throw new Error(`expected RegisterAck, got ${JSON.stringify(ack.body)}`);
  expect(formatAddr(fromWireAddress(ack.body.value.observed!))).toBe(`[::1]:${a6.port}`);
  expect(ack.body.value.secret).toHaveLength(0); // the secret never travels on the second path
  expect(server!.core.registry.size).toBe(1); // nothing moved

  const b = await client("127.0.0.1");
  const bobSecret = await registered(b, "bob", bob);
  b.send(punchRequest("alice", bobSecret), 9n);
  const init = await b.next();
  expect(candidatesIn(init)).toEqual([`127.0.0.1:${a4.port}`, `[::1]:${a6.port}`]);
  // Alice's Initiate goes to her registered (IPv4) address, never to the second one.
  expect((await a4.next()).body.case).toBe("holePunchInitiate");
  expect(await a6.silentFor(200)).toBe(true);
});

test("a retransmitted additional Register is answered again; keepalives keep the address", async () => {
  await setup();
  const a4 = await client("127.0.0.1");
  const a6 = await client("::1");
  const secret = await registered(a4, "alice", alice);
  a6.send(hello("alice", alice), 7n);
  const ch = await a6.next();
  if (ch.body.case !== "challenge") throw new Error(ch.body.case);
  const signed = signedRegister("alice", alice, ch.body.value.cookie, "", [], true);
  a6.send(signed, 7n);
  expect((await a6.next()).body.case).toBe("registerAck");
  a6.send(signed, 7n); // our ack was "lost"
  expect((await a6.next()).body.case).toBe("registerAck");
  a4.send(keepalive("alice", secret), 3n);
  expect((await a4.next()).body.case).toBe("keepaliveAck");
  expect(server!.core.stats.droppedFor("register_replay")).toBe(0);
});

test("refused: no live registration, the same family, another key", async () => {
  await setup();
  const a6 = await client("::1");
  expect(errorCode(await addAddress(a6, "alice", alice))).toBe(ErrorCode.NOT_REGISTERED);

  const a4 = await client("127.0.0.1");
  await registered(a4, "alice", alice);
  const another4 = await client("127.0.0.1");
  expect(errorCode(await addAddress(another4, "alice", alice))).toBe(ErrorCode.NOT_ALLOWED);

  const mallory6 = await client("::1");
  expect(errorCode(await addAddress(mallory6, "alice", generateIdentity()))).toBe(ErrorCode.NOT_REGISTERED);
});

test("a new registration of the name (new secret) voids the old second address", async () => {
  await setup();
  const a4 = await client("127.0.0.1");
  const a6 = await client("::1");
  await registered(a4, "alice", alice);
  expect((await addAddress(a6, "alice", alice)).body.case).toBe("registerAck");
  // Alice restarts on another port: a new registration, without a second address (yet).
  const again = await client("127.0.0.1");
  await registered(again, "alice", alice);
  const b = await client("127.0.0.1");
  const bobSecret = await registered(b, "bob", bob);
  b.send(punchRequest("alice", bobSecret), 9n);
  expect(candidatesIn(await b.next())).toEqual([`127.0.0.1:${again.port}`]);
});
