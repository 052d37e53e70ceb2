// hp-server's settings (src/cli/server-config.ts): precedence flag > env >
// file > default, one-line errors naming their source, --print-config
// round trips, the deploy/ samples; and the real CLI as a subprocess.
import { afterAll, describe, expect, test } from "bun:test";
import { cac } from "cac";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { camelFlags } from "../src/cli/common.ts";
import { formatConfig, instanceId, loadConfig, OPTIONS, parseHostPort, redactRedis, type ConfigInput, type Value } from "../src/cli/server-config.ts";
import { isHpError } from "../src/errors.ts";

const root = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "hp-server-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function file(body: string): string {
  const path = join(dir, `c${files++}.toml`);
  writeFileSync(path, body);
  return path;
}

/** What server.ts hands loadConfig: cac's parse of these arguments (declared as server.ts declares them), the raw arguments, env. */
function input(argv: string[] = [], env: Record<string, string> = {}): ConfigInput {
  const cli = cac("hp-server");
  for (const o of OPTIONS) cli.option(o.flag ?? `--${o.name}${o.kind.type === "bool" ? "" : " <v>"}`, "");
  const flags = cli.parse(["bun", "hp-server", ...camelFlags(argv)], { run: false }).options;
  return { flags, argv, env, hostname: "box" };
}
const load = (argv: string[] = [], env: Record<string, string> = {}) => loadConfig(input(argv, env));
const setting = (argv: string[], env: Record<string, string>, name: string) => {
  const s = load(argv, env).settings.get(name)!;
  return { value: s.value, from: s.source.kind === "env" ? `env ${s.source.name}` : s.source.kind };
};

describe("precedence: flag > environment > config file > default", () => {
  const f = file('port = 1003\nrelay = true\nlog-format = "json"\nrate = 30\nallow = "keys/allow.txt"\n');
  const rows: { name: string; argv: string[]; env?: Record<string, string>; option: string; value: Value; from: string }[] = [
    { name: "flag beats env and file", argv: ["--config", f, "--port", "1001"], env: { HP_PORT: "1002" }, option: "port", value: 1001, from: "flag" },
    { name: "env beats file", argv: ["--config", f], env: { HP_PORT: "1002" }, option: "port", value: 1002, from: "env HP_PORT" },
    { name: "file beats default", argv: ["--config", f], option: "port", value: 1003, from: "file" },
    { name: "default", argv: [], option: "port", value: 39738, from: "default" },
    { name: "--no-relay beats HP_RELAY and file", argv: ["--config", f, "--no-relay"], env: { HP_RELAY: "true" }, option: "relay", value: false, from: "flag" },
    { name: "HP_RELAY=false beats file", argv: ["--config", f], env: { HP_RELAY: "false" }, option: "relay", value: false, from: "env HP_RELAY" },
    { name: "--relay beats HP_RELAY=false", argv: ["--relay"], env: { HP_RELAY: "false" }, option: "relay", value: true, from: "flag" },
    { name: "relay: default on", argv: [], option: "relay", value: true, from: "default" },
    { name: "log-format from the file", argv: ["--config", f], option: "log-format", value: "json", from: "file" },
    { name: "log-format: env beats file", argv: ["--config", f], env: { HP_LOG_FORMAT: "text" }, option: "log-format", value: "text", from: "env HP_LOG_FORMAT" },
    { name: "an empty variable counts as unset", argv: ["--config", f], env: { HP_PORT: "" }, option: "port", value: 1003, from: "file" },
    { name: "HP_CONFIG names the file", argv: [], env: { HP_CONFIG: f }, option: "port", value: 1003, from: "file" },
    { name: "alt-port follows the port", argv: ["--config", f], option: "alt-port", value: 1004, from: "default" },
    { name: "alt-port off", argv: ["--alt-port", "off"], option: "alt-port", value: "off", from: "flag" },
    { name: "burst follows the rate", argv: [], env: { HP_RATE: "80" }, option: "burst", value: 160, from: "default" },
    { name: "instance: <hostname>:<port>", argv: ["--config", f], option: "instance", value: "box:1003", from: "default" },
    { name: "a token typed as digits stays text", argv: ["--token", "007"], option: "token", value: "007", from: "flag" },
    { name: "an instance typed as digits stays text", argv: ["--instance=0123"], option: "instance", value: "0123", from: "flag" },
    { name: "a relative path in a file is relative to the file", argv: ["--config", f], option: "allow", value: join(dir, "keys/allow.txt"), from: "file" },
    { name: "HP_VERBOSE=1", argv: [], env: { HP_VERBOSE: "1" }, option: "verbose", value: true, from: "env HP_VERBOSE" },
    { name: "metrics, IPv6", argv: ["--metrics", "[::1]:9100"], option: "metrics", value: "[::1]:9100", from: "flag" },
  ];
  for (const r of rows) test(r.name, () => expect(setting(r.argv, r.env ?? {}, r.option)).toEqual({ value: r.value, from: r.from }));

  test("unknown HP_* variables warn, known ones do not", () => {
    const c = load([], { HP_FROB: "1", HP_PORT: "5", HOME: "/root" });
    expect(c.warnings).toEqual(["environment variable HP_FROB is not an hp-server setting (ignored)"]);
  });
});

describe("errors: one line naming the source", () => {
  const F = (body: string) => ["--config", file(body)];
  const rows: { name: string; argv?: string[]; env?: Record<string, string>; message: string }[] = [
    { name: "file: wrong type", argv: F('relay-rate = "fast"'), message: 'config file FILE: relay-rate must be an integer from 1 to 1000000000000, not "fast"' },
    { name: "file: out of range", argv: F("port = 70000"), message: "config file FILE: port must be an integer from 0 to 65535, not 70000" },
    { name: "file: a number as a string", argv: F('port = "39738"'), message: 'config file FILE: port must be an integer from 0 to 65535, not "39738"' },
    { name: "file: bool", argv: F('relay = "no"'), message: 'config file FILE: relay must be true or false, not "no"' },
    { name: "file: table", argv: F("[metrics]\nport = 1"), message: "config file FILE: metrics must be host:port with a port from 0 to 65535 (an IPv6 address in brackets: [::1]:9100), not a table" },
    { name: "file: unknown key", argv: F("relay_rate = 5"), message: 'config file FILE: unknown key "relay_rate" (did you mean relay-rate?)' },
    { name: "file: unknown key, no guess", argv: F("frobnicate = 5"), message: 'config file FILE: unknown key "frobnicate" (see hp-server --help)' },
    { name: "file: config key", argv: F('config = "x.toml"'), message: "config file FILE: config is not a config-file setting (only --config or HP_CONFIG)" },
    { name: "file: print-config key", argv: F("print-config = true"), message: "config file FILE: print-config is not a config-file setting (only --print-config)" },
    { name: "file: not TOML", argv: F("port = \n"), message: "config file FILE: not valid TOML: Missing value after '='; values must be on the same line" },
    { name: "file: redacted token", argv: F('token = "(set)"'), message: 'config file FILE: token is the "(set)" that --print-config prints for secrets: put the real value there, or set HP_TOKEN' },
    { name: "file: bad even when a flag overrides it", argv: [...F("rate = -1"), "--rate", "5"], message: "config file FILE: rate must be an integer from 0 to 100000000, not -1" },
    { name: "file: missing", argv: ["--config", join(dir, "none.toml")], message: `config file ${join(dir, "none.toml")} (--config): cannot read it: ENOENT: no such file or directory, open '${join(dir, "none.toml")}'` },
    { name: "env: not a number", env: { HP_PORT: "abc" }, message: 'environment variable HP_PORT must be an integer from 0 to 65535, not "abc"' },
    { name: "env: not a bool", env: { HP_RELAY: "maybe" }, message: 'environment variable HP_RELAY must be true or false, not "maybe"' },
    { name: "env: IPv6 without brackets", env: { HP_METRICS: "::1:9100" }, message: 'environment variable HP_METRICS must be host:port with a port from 0 to 65535 (an IPv6 address in brackets: [::1]:9100), not "::1:9100"' },
    { name: "env: a secret is not echoed", env: { HP_REDIS: "http://u:pw@x" }, message: "environment variable HP_REDIS must be a redis:// or rediss:// URL with a host" },
    { name: "flag: out of range", argv: ["--relay-quota", "0"], message: "--relay-quota must be an integer from 1 to 1000000000000000, not 0" },
    { name: "flag: twice", argv: ["--port", "1", "--port", "2"], message: "--port given more than once" },
    { name: "flag: no value", argv: ["--port"], message: "--port needs a value" },
    { name: "flag: enum", argv: ["--log-format", "xml"], message: '--log-format must be text or json, not "xml"' },
    { name: "flag: instance", argv: ["--instance", "a b"], message: '--instance must be 1 to 64 characters of A-Z a-z 0-9 . _ : -, not "a b"' },
    { name: "flag: empty token", argv: ["--token", ""], message: "--token must be 1 to 256 characters" },
    { name: "flag: redacted redis password", argv: ["--redis", "redis://:(set)@h:6379"], message: '--redis is the "(set)" that --print-config prints for secrets: put the real value there, or set HP_REDIS' },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const path = r.argv?.[1] ?? "";
      let err: unknown;
      try {
        load(r.argv, r.env);
      } catch (e) {
        err = e;
      }
      expect(isHpError(err) && err.code).toBe("BAD_ARGUMENT");
      expect((err as Error).message).toBe(r.message.replace("FILE", path));
      expect((err as Error).message).not.toContain("\n");
    });
  }
});

/** --print-config output without its source comments (and the config-file line). */
const body = (text: string) =>
  text
    .split("\n")
    .filter((l) => !l.startsWith("# config:"))
    .map((l) => l.replace(/  # [^"]*$/, ""));

describe("--print-config", () => {
  test("round trip: printed, saved, loaded with --config, printed again: the same settings", () => {
    const f = file('rate = 20\nallow = "allow.txt"\nalt-host = "127.0.0.2"\n');
    const argv = ["--config", f, "--host", "127.0.0.1", "--port", "4000", "--no-relay", "--instance", "hp-1:4000", "--metrics", "[::1]:9100"];
    const first = load(argv, { HP_LOG_FORMAT: "json", HP_RELAY_QUOTA: "1000", HP_VERBOSE: "yes" });
    const printed = formatConfig(first);
    expect(printed).toContain("port = 4000  # flag\n");
    expect(printed).toContain('log-format = "json"  # env HP_LOG_FORMAT\n');
    expect(printed).toContain("rate = 20  # file\n");
    expect(printed).toContain("# alt-port = 4001  # default: port + 1\n");
    const again = load(["--config", file(printed)]);
    expect(body(formatConfig(again))).toEqual(body(printed));
    const values = (c: typeof first) => [...c.settings].filter(([k]) => k !== "config").map(([k, s]) => [k, s.value]);
    expect(values(again)).toEqual(values(first));
    expect(again.settings.get("port")!.source.kind).toBe("file");
  });

  test("every default round-trips too", () => {
    const printed = formatConfig(load());
    expect(body(formatConfig(load(["--config", file(printed)])))).toEqual(body(printed));
  });

  test("secrets print redacted; the redacted file is refused unless the environment gives the secret", () => {
    const argv = ["--token", "s3cret", "--redis", "rediss://hp:pw@redis.internal:6380/2"];
    const printed = formatConfig(load(argv));
    expect(printed).not.toContain("s3cret");
    expect(printed).not.toContain(":pw@");
    expect(printed).toContain('token = "(set)"  # flag\n');
    expect(printed).toContain('redis = "rediss://hp:(set)@redis.internal:6380/2"  # flag\n');
    const saved = file(printed);
    expect(() => load(["--config", saved])).toThrow('token is the "(set)"');
    const c = load(["--config", saved], { HP_TOKEN: "s3cret", HP_REDIS: "rediss://hp:pw@redis.internal:6380/2" });
    expect(c.settings.get("token")).toEqual({ value: "s3cret", source: { kind: "env", name: "HP_TOKEN" } });
  });
});

test("helpers: host:port, Redis redaction, default instance id", () => {
  expect(parseHostPort("127.0.0.1:9100")).toEqual({ host: "127.0.0.1", port: 9100 });
  expect(parseHostPort("[::1]:9100")).toEqual({ host: "::1", port: 9100 });
  expect(parseHostPort("metrics.internal:0")).toEqual({ host: "metrics.internal", port: 0 });
  for (const bad of ["::1:9100", "[nope]:1", "h:65536", "h", ":9100", "h:x"]) expect(parseHostPort(bad)).toBeUndefined();
  expect(redactRedis("redis://:pw@h:6379")).toBe("redis://:(set)@h:6379");
  expect(redactRedis("redis://h:6379/0")).toBe("redis://h:6379/0");
  expect(instanceId("my host!", 39738)).toBe("my-host-:39738");
  expect(instanceId("x".repeat(80), 39738)).toHaveLength(64);
});

describe("deploy/", () => {
  const sample = readFileSync(join(root, "deploy/hp-server.toml"), "utf8");
  test("the sample config loads, and so does every commented example in it", () => {
    expect(() => load(["--config", join(root, "deploy/hp-server.toml")])).not.toThrow();
    const uncommented = sample.replace(/^# ([a-z-]+ = )/gm, "$1");
    const c = load(["--config", file(uncommented)], {});
    for (const o of OPTIONS.filter((o) => !o.only)) expect([o.name, c.settings.get(o.name)!.source.kind]).toEqual([o.name, "file"]);
  });

  test("the systemd unit is sandboxed and never sets MemoryDenyWriteExecute", () => {
    const unit = readFileSync(join(root, "deploy/hp-server.service"), "utf8");
    const directives = new Map(unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const want: Record<string, string> = {
      ...{ DynamicUser: "yes", NoNewPrivileges: "yes", ProtectSystem: "strict", ProtectHome: "yes", PrivateTmp: "yes", PrivateDevices: "yes" },
      ...{ ProtectKernelTunables: "yes", ProtectKernelModules: "yes", ProtectKernelLogs: "yes", ProtectControlGroups: "yes", ProtectClock: "yes" },
      ...{ ProtectHostname: "yes", RestrictNamespaces: "yes", RestrictRealtime: "yes", RestrictSUIDSGID: "yes", LockPersonality: "yes" },
      ...{ SystemCallArchitectures: "native", RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX AF_NETLINK", CapabilityBoundingSet: "" },
      ...{ Restart: "on-failure", EnvironmentFile: "-/etc/hole-punch/hp-server.env" },
      ExecStart: "/usr/local/bin/hp-server --config /etc/hole-punch/hp-server.toml",
    };
    for (const [k, v] of Object.entries(want)) expect([k, directives.get(k)]).toEqual([k, v]);
    for (const k of ["LimitNOFILE", "RestartSec", "StartLimitIntervalSec", "StartLimitBurst"]) expect(directives.has(k)).toBe(true);
    expect(directives.has("MemoryDenyWriteExecute")).toBe(false);
  });
});

describe("the real CLI", () => {
  const cli = join(root, "src/cli/server.ts");
  const spawn = (args: string[], env: Record<string, string>) =>
    Bun.spawn([process.execPath, cli, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdout: "pipe", stderr: "pipe" });

  test("--print-config with env and file: prints, binds nothing, exits 0", async () => {
    // Hold the port: a server that tried to bind it would exit 11.
    const held = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    try {
      const f = file("relay-rate = 65536\nrelay = false\n");
      const p = spawn(["--print-config", "--host", "127.0.0.1", "--port", String(held.port)], { HP_CONFIG: f, HP_MAX_CLIENTS: "500", HP_FROB: "x" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect(code).toBe(0);
      expect(out).toContain(`port = ${held.port}  # flag\n`);
      expect(out).toContain("max-clients = 500  # env HP_MAX_CLIENTS\n");
      expect(out).toContain("relay-rate = 65536  # file\nrelay-quota = 268435456  # default\n");
      expect(out).toContain("relay = false  # file\n");
      expect(err).toContain("environment variable HP_FROB is not an hp-server setting (ignored)");
    } finally {
      held.close();
    }
  }, 15_000);

  test("a bad variable: one line on stderr, exit 2", async () => {
    const p = spawn(["--print-config"], { HP_RELAY_RATE: "fast" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(2);
    expect(err).toBe('hp-server: BAD_ARGUMENT: environment variable HP_RELAY_RATE must be an integer from 1 to 1000000000000, not "fast"\n');
  }, 15_000);

  test("settings reach the server: JSON logs from HP_LOG_FORMAT, the instance in the listening line, SIGTERM exits 0", async () => {
    const f = file('host = "127.0.0.1"\nport = 0\nalt-port = "off"\ninstance = "test-1"\n');
    const p = spawn(["--config", f], { HP_LOG_FORMAT: "json" });
    const reader = p.stderr.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const line = JSON.parse(text.split("\n")[0]!);
    expect(line.msg).toMatch(/^listening on 127\.0\.0\.1:\d+ \(udp\)$/);
    expect(line.instance).toBe("test-1");
    expect(line.alt_port).toBeUndefined();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 15_000);
});
