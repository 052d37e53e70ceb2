// Time to connect on loopback: from bob's start (socket bind included) to
// both sides `connected`, through a real server, median and p90 of N runs.
// Includes the two-step signed registration and the signed key exchange.
import { startClient } from "../../src/client/udp-client.ts";
import { startServer } from "../../src/server/udp-server.ts";
import { generateIdentity } from "../../src/identity/keys.ts";

export async function benchConnect(runs = 30): Promise<Array<[string, string]>> {
  // Every client is on 127.0.0.1: one IP, so per-IP rate limiting is off here.
  const server = await startServer({ host: "127.0.0.1", port: 0, ratePerSecond: Number.POSITIVE_INFINITY, rateBurst: Number.POSITIVE_INFINITY });
  const times: number[] = [];
  const ids = [generateIdentity(), generateIdentity()];
  try {
    for (let i = 0; i < runs; i++) {
      let aliceUp!: () => void;
      const aliceRegistered = new Promise<void>((r) => (aliceUp = r));
      let both = 0;
      let done!: () => void;
      const connected = new Promise<void>((r) => (done = r));
      const onEvent = (e: { event: string }) => {
        if (e.event === "registered") aliceUp();
        if (e.event === "connected" && ++both === 2) done();
      };
      const alice = await startClient({ server: `127.0.0.1:${server.port}`, name: `a${i}`, identity: ids[0]!, onEvent });
      await aliceRegistered;
      const t0 = performance.now();
      const bob = await startClient({
        server: `127.0.0.1:${server.port}`,
        name: `b${i}`,
        identity: ids[1]!,
        peer: `a${i}`,
        onEvent: (e) => e.event === "connected" && ++both === 2 && done(),
      });
      await connected;
      times.push(performance.now() - t0);
      bob.stop();
      alice.stop();
    }
  } finally {
    server.stop();
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return [["connect on loopback (bob start → both connected)", `median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms (${runs} runs)`]];
}
