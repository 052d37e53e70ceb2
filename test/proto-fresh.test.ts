// The committed src/gen/ must be exactly what `bun run proto` generates from proto/.
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test("src/gen is up to date with proto/", () => {
  const out = mkdtempSync(join(tmpdir(), "hp-gen-"));
  try {
    const template = join(out, "buf.gen.yaml");
    const conf = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace("out: src/gen", `out: ${join(out, "gen")}`);
    writeFileSync(template, conf);
    const r = Bun.spawnSync([join(root, "node_modules/.bin/buf"), "generate", "--template", template], {
      cwd: root,
      env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` },
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const want = files(join(out, "gen")).map((f) => [relative(join(out, "gen"), f), readFileSync(f, "utf8")]);
    const have = files(join(root, "src/gen")).map((f) => [relative(join(root, "src/gen"), f), readFileSync(f, "utf8")]);
    expect(have).toEqual(want);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
