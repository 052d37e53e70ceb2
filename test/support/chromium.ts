// Debian's headless Chromium as a test tool: load a page, let its scripts run
// (virtual time), and return the serialized DOM (or write a screenshot).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Runs chromium on `url` with `args` (e.g. ["--dump-dom"]); resolves with its stdout. Fails clearly when chromium is missing. */
export async function runChromium(url: string, args: string[], timeoutMs = 25_000): Promise<string> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: this test needs Debian's chromium (apt-get install -y chromium, or run scripts/setup.sh as root)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "hp-chromium-"));
  try {
    const proc = Bun.spawn(
      [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`, "--virtual-time-budget=5000", ...args, url],
      { stdout: "pipe", stderr: "pipe" },
    );
    const killer = setTimeout(() => proc.kill(), timeoutMs);
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(killer);
    if (code !== 0) throw new Error(`chromium exited with ${code}: ${err.slice(-2000)}`);
    return out;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The text and data-value of the element with this id, from serialized DOM. */
export function byId(dom: string, id: string): { text: string; value: string | undefined } {
  const m = new RegExp(`<[a-z]+ [^>]*\\bid="${id}"[^>]*>([^<]*)<`).exec(dom);
  if (!m) throw new Error(`#${id} not in the DOM`);
  return { text: m[1]!.replace(/&amp;/g, "&"), value: /data-value="([^"]*)"/.exec(m[0])?.[1] };
}
