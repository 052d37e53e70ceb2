// A cluster test fixture: one real redis-server for the file (bun:test hooks),
// hp-server instances on loopback sharing it, and library clients; everything
// started here is stopped after each test, and Redis is emptied.
import { afterAll, afterEach, beforeAll } from "bun:test";
import { startClient, type RunningClient } from "../../src/client/udp-client.ts";
import { generateIdentity, type Identity } from "../../src/identity/keys.ts";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server/udp-server.ts";
import { EventLog } from "./events.ts";
import { TestRedis } from "./redis.ts";

export function clusterFixture(defaults: Partial<ServerOptions> = {}) {
  let redis: TestRedis | undefined;
  const servers: RunningServer[] = [];
  const clients: RunningClient[] = [];
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await redis?.kill();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.stop();
    for (const s of servers.splice(0)) s.stop();
    await redis?.send("FLUSHALL", []).catch(() => {});
  });
  return {
    get redis(): TestRedis {
      return redis!;
    },
    /** An instance with this id on a free port (or `extra.port`), using the file's Redis. */
    async instance(id: string, extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
      const s = await startServer({ host: "127.0.0.1", port: 0, altPort: false, redis: redis!.url, instanceId: id, ...defaults, ...extra });
      servers.push(s);
      return s;
    },
    /** Stops an instance now (its sockets close: to clients, like a crash). */
    stop(s: RunningServer): void {
      s.stop();
      servers.splice(servers.indexOf(s), 1);
    },
    /** A library client of `at` (a list: several servers, in that order). */
    async client(at: RunningServer | RunningServer[], name: string, opts: { peer?: string; identity?: Identity } = {}) {
      const log = new EventLog();
      const list = (Array.isArray(at) ? at : [at]).map((s) => `127.0.0.1:${s.port}`).join(",");
      const c = await startClient({ server: list, name, identity: opts.identity ?? generateIdentity(), peer: opts.peer, onEvent: log.push });
      clients.push(c);
      return { c, log };
    },
    stopClient(c: RunningClient): void {
      c.stop();
      clients.splice(clients.indexOf(c), 1);
    },
  };
}

export async function waitUntil(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
}
