// A local demo on one machine: hp-server on 127.0.0.1 and two hp-clients that
// find each other through it, punch, and chat. Uses the compiled binaries in
// dist/ when present (scripts/demo.sh builds them), else the sources.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const bin = (name: string) =>
  existsSync(join(root, "dist", name)) ? [join(root, "dist", name)] : [process.execPath, join(root, "src/cli", `${name.slice(3)}.ts`)];
const color = { server: "\x1b[90m", alice: "\x1b[35m", bob: "\x1b[36m" } as const;
const reset = "\x1b[0m";
const tty = process.stdout.isTTY;

function show(who: keyof typeof color, stream: string, line: string) {
  const tag = `[${who} ${stream}]`.padEnd(16);
  process.stdout.write(tty ? `${color[who]}${tag}${reset} ${line}\n` : `${tag} ${line}\n`);
}

// Each demo client keeps its identity in a throwaway config dir, as if on its own machine.
const demoHome = mkdtempSync(join(tmpdir(), "hp-demo-"));
process.on("exit", () => rmSync(demoHome, { recursive: true, force: true }));

function run(who: keyof typeof color, argv: string[]) {
  const env = { ...process.env, XDG_CONFIG_HOME: join(demoHome, who) };
  const p = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env });
  const waiters: Array<[RegExp, (l: string) => void]> = [];
  const seen: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, name: string) => {
    let buf = "";
    for await (const chunk of stream) {
      buf += new TextDecoder().decode(chunk);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        show(who, name, line);
        seen.push(line);
        for (const w of waiters.splice(0)) (w[0].test(line) ? w[1](line) : waiters.push(w));
      }
    }
  };
  void pump(p.stdout, "out");
  void pump(p.stderr, "log");
  const waitFor = (re: RegExp, ms = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const hit = seen.find((l) => re.test(l));
      if (hit) return resolve(hit);
      const t = setTimeout(() => reject(new Error(`${who}: nothing matching ${re} within ${ms} ms`)), ms);
      waiters.push([re, (l) => (clearTimeout(t), resolve(l))]);
    });
  const say = (text: string) => {
    p.stdin.write(text + "\n");
    p.stdin.flush();
  };
  return { p, waitFor, say };
}

const server = run("server", [...bin("hp-server"), "--host", "127.0.0.1", "--port", "0"]);
let code = 0;
try {
  const port = (await server.waitFor(/listening on/)).match(/:(\d+) \(udp\)/)![1];
  const addr = `127.0.0.1:${port}`;
  const alice = run("alice", [...bin("hp-client"), addr, "alice"]);
  await alice.waitFor(/registered as alice/);
  const bob = run("bob", [...bin("hp-client"), addr, "bob", "alice"]);
  await Promise.all([alice.waitFor(/connected to bob/), bob.waitFor(/connected to alice/)]);
  bob.say("hi alice, this came straight from bob's socket to yours, encrypted end to end");
  await alice.waitFor(/^bob: hi alice/);
  alice.say("hi bob! the server only introduced us");
  await bob.waitFor(/^alice: hi bob/);
  bob.p.stdin.end(); // end of input: bob waits for alice's ack, says bye, exits 0
  const bobExit = await bob.p.exited;
  await alice.waitFor(/bob disconnected/);
  alice.p.kill("SIGINT");
  await alice.p.exited;
  console.log(`\ndemo finished: bob exited with ${bobExit}. Real use across machines: see README.md.`);
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  code = 1;
} finally {
  server.p.kill("SIGTERM");
  await server.p.exited;
}
process.exit(code);
