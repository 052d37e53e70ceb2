// The README's library example, run as written (the package name mapped to src/index.ts).
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("README: the Library example runs and prints what it says", async () => {
  const readme = readFileSync(join(import.meta.dir, "../README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Library"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  const dir = mkdtempSync(join(tmpdir(), "hp-readme-"));
  try {
    const file = join(dir, "example.ts");
    writeFileSync(file, code!.replace(/from "hole-punch"/g, `from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))}`));
    const p = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe", env: { ...process.env, XDG_CONFIG_HOME: dir } });
    const timer = setTimeout(() => p.kill(), 20_000);
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    clearTimeout(timer);
    expect({ code: await p.exited, err }).toEqual({ code: 0, err: "" });
    expect(out).toBe("bob reached alice on a direct path\nHELLO THROUGH THE HOLE\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
