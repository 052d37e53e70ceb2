// A real redis-server for tests: started on a free loopback port with no
// persistence, stopped (and restartable on the same port) by the test.
import type { Subprocess } from "bun";
import { RedisClient } from "bun";

export class TestRedis {
  private proc: Subprocess | undefined;
  constructor(readonly port: number) {}

  /** The running redis-server (its pid for CPU accounting, kill on ^C). */
  get process(): Subprocess | undefined {
    return this.proc;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const which = Bun.which("redis-server");
    if (!which) throw new Error("redis-server is not installed (scripts/setup.sh installs it: apt-get install redis-server)");
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = new TestRedis(20000 + Math.floor(Math.random() * 20000));
      if (await r.restart().then(() => true, () => false)) return r;
    }
    throw new Error("could not start redis-server");
  }

  /** (Re)starts redis-server on this port and waits until it answers PING. */
  async restart(): Promise<void> {
    this.proc = Bun.spawn(["redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], { stdout: "ignore", stderr: "ignore" });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`redis-server exited with ${this.proc.exitCode}`);
      const c = new RedisClient(this.url, { autoReconnect: false, connectionTimeout: 200 });
      try {
        await c.connect();
        if ((await c.send("PING", [])) === "PONG") return;
      } catch {
      } finally {
        c.close();
      }
      await Bun.sleep(20);
    }
    throw new Error("redis-server did not answer");
  }

  /** Kills it (SIGKILL: like a crash) and waits for the exit. */
  async kill(): Promise<void> {
    this.proc?.kill(9);
    await this.proc?.exited;
  }

  /** A command on a fresh connection. */
  async send(cmd: string, args: string[]): Promise<unknown> {
    const c = new RedisClient(this.url, { autoReconnect: false });
    try {
      await c.connect();
      return await c.send(cmd, args);
    } finally {
      c.close();
    }
  }
}
