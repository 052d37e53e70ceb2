// Fewer round trips to a connection, over real UDP on loopback:
// - Register.connect_to: the introduction rides on the signed Register, so
//   the Initiates follow the RegisterAck in the same flight;
// - 0-RTT: a Register carrying an address token from an earlier RegisterAck
//   (and a fresh client time) registers at once, no Challenge; a replay, a
//   token for another key or IP, or a skewed clock fall back to a Challenge.
import { afterEach, expect, test } from "bun:test";
import type { Envelope } from "../src/gen/holepunch/v1/holepunch_pb.ts";
import { registerSigningInput } from "../src/crypto/server-auth.ts";
import { generateIdentity, sign, type Identity } from "../src/identity/keys.ts";
import type { Body } from "../src/protocol/packet.ts";
import { startServer, type RunningServer } from "../src/server/udp-server.ts";
import { startClient, type RunningClient } from "../src/client/udp-client.ts";
import { memoryTokens } from "../src/client/address-tokens.ts";
import { hello, registered, registerFully, scriptClient, signedRegister, type ScriptClient } from "./support/script-client.ts";

let server: RunningServer | undefined;
const clients: ScriptClient[] = [];
const running: RunningClient[] = [];
const alice = generateIdentity();
const bob = generateIdentity();

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) r.stop();
  server?.stop();
  server = undefined;
});

async function client(host = "127.0.0.1"): Promise<ScriptClient> {
  const c = await scriptClient(server!.port, host, host);
  clients.push(c);
  return c;
}

function zeroRttRegister(name: string, id: Identity, addressToken: Uint8Array, o: { connectTo?: string; clientTimeMs?: number } = {}): Body {
  const value = {
    $typeName: "holepunch.v1.Register" as const,
    name,
    publicKey: id.publicKey,
    localAddresses: [],
    software: "test",
    cookie: new Uint8Array(),
    signature: new Uint8Array() as Uint8Array,
    token: "",
    additional: false,
    connectTo: o.connectTo ?? "",
    addressToken,
    clientTimeMs: BigInt(o.clientTimeMs ?? Date.now()),
    padding: new Uint8Array(),
  };
  value.signature = sign(id, registerSigningInput(value));
  return { case: "register", value };
}

async function tokenFor(name: string, id: Identity): Promise<Uint8Array> {
  const c = await client();
  const ack = await registerFully(c, name, id);
  if (ack.body.case !== "registerAck") throw new Error(ack.body.case);
  expect(ack.body.value.addressToken).toHaveLength(24);
  return ack.body.value.addressToken;
}

const cases = (e: Envelope[]) => e.map((x) => x.body.case);

test("connect_to: the signed Register brings the RegisterAck and the Initiates in one flight", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const b = await client();
  await registered(b, "bob", bob);
  const a = await client();
  a.send(hello("alice", alice), 5n);
  const ch = await a.next();
  if (ch.body.case !== "challenge") throw new Error(ch.body.case);
  a.send(signedRegister("alice", alice, ch.body.value.cookie, "", [], false, "bob"), 5n);
  const replies = [await a.next(), await a.next()];
  expect(cases(replies)).toEqual(["registerAck", "holePunchInitiate"]);
  expect(replies.map((r) => r.txid)).toEqual([5n, 5n]);
  const toBob = await b.next();
  expect(toBob.body.case).toBe("holePunchInitiate");
  if (toBob.body.case === "holePunchInitiate") expect(toBob.body.value.peerName).toBe("alice");
});

test("0-RTT: an address token registers (and introduces) without a Challenge; a replay changes nothing", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const b = await client();
  await registered(b, "bob", bob);
  const token = await tokenFor("alice", alice);
  const again = await client(); // alice restarted: same IP, new port
  const datagram = zeroRttRegister("alice", alice, token, { connectTo: "bob" });
  again.send(datagram, 9n);
  const replies = [await again.next(), await again.next()];
  expect(cases(replies)).toEqual(["registerAck", "holePunchInitiate"]);
  expect(server.core.stats.get("register_ok_0rtt")).toBe(1);
  expect(server.core.stats.get("register_hello")).toBe(2); // bob's and alice's first, none now
  expect((await b.next()).body.case).toBe("holePunchInitiate");
  // The same datagram again from elsewhere (an on-path replay): no move, no answer.
  const mallory = await client();
  mallory.send(datagram, 9n);
  expect(await mallory.silentFor(200)).toBe(true);
  expect(server.core.stats.droppedFor("register_replay")).toBe(1);
  expect(server.core.registry.lookup("alice", performance.now())?.observed.port).toBe(again.port);
});

test("0-RTT refused, answered with a Challenge: another key's token, another IP, a skewed clock", async () => {
  server = await startServer({ host: "::", port: 0 });
  const token = await tokenFor("alice", alice);
  const tries: Array<[string, ScriptClient, Body, string]> = [
    ["token of another key", await client(), zeroRttRegister("bob", bob, token), "register_0rtt_bad_token"],
    ["token from another IP", await client("::1"), zeroRttRegister("alice", alice, token), "register_0rtt_bad_token"],
    ["client clock 60 s off", await client(), zeroRttRegister("alice", alice, token, { clientTimeMs: Date.now() - 60_000 }), "register_0rtt_clock_skew"],
  ];
  for (const [name, c, body, counter] of tries) {
    const before = server.core.stats.get(counter);
    c.send(body, 3n);
    const r = await c.next();
    expect([name, r.body.case]).toEqual([name, "challenge"]);
    expect(server.core.stats.get(counter)).toBe(before + 1);
  }
  expect(server.core.stats.get("register_ok_0rtt")).toBe(0);
});

test("a client keeps its token: its next start registers in 0-RTT", async () => {
  server = await startServer({ host: "127.0.0.1", port: 0 });
  const tokens = memoryTokens();
  for (let run = 0; run < 2; run++) {
    let registeredAt = 0;
    const r = await startClient({ server: `127.0.0.1:${server.port}`, name: "alice", identity: alice, addressTokens: tokens, onEvent: (e) => void (e.event === "registered" && (registeredAt = 1)) });
    running.push(r);
    for (let i = 0; i < 100 && !registeredAt; i++) await Bun.sleep(10);
    expect(registeredAt).toBe(1);
    r.stop();
  }
  expect(server.core.stats.get("register_ok")).toBe(1);
  expect(server.core.stats.get("register_ok_0rtt")).toBe(1);
});
