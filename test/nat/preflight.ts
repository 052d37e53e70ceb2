// Preflight (can these tests run here?) and the process-exit safety net that
// removes namespaces a crashed or interrupted run would otherwise leave behind.
import { liveProcs } from "./proc.ts";

// ---- process-exit safety net -------------------------------------------------

export const ownedNamespaces = new Set<string>();
let exitHookInstalled = false;

function cleanupSync(): void {
  for (const p of liveProcs) p.kill("SIGKILL");
  for (const ns of ownedNamespaces) {
    const pids = Bun.spawnSync(["ip", "netns", "pids", ns]).stdout.toString().split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    Bun.spawnSync(["ip", "netns", "del", ns]);
  }
  ownedNamespaces.clear();
}

export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", cleanupSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      cleanupSync();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}

// ---- preflight --------------------------------------------------------------

let canRunCache: { ok: boolean; reason?: string } | undefined;

/** ok only when we are root, `ip` and `nft` exist and a namespace can be created. */
export function canRunNatTests(): { ok: boolean; reason?: string } {
  if (canRunCache) return canRunCache;
  const check = (): { ok: boolean; reason?: string } => {
    if (process.platform !== "linux") return { ok: false, reason: "not Linux" };
    if (process.getuid?.() !== 0) return { ok: false, reason: "not running as root" };
    if (!Bun.which("ip")) return { ok: false, reason: "`ip` (iproute2) not found" };
    if (!Bun.which("nft")) return { ok: false, reason: "`nft` (nftables) not found" };
    const probe = `hp${process.pid}probe`;
    const add = Bun.spawnSync(["ip", "netns", "add", probe], { stderr: "pipe" });
    if (add.exitCode !== 0) return { ok: false, reason: `cannot create a netns: ${add.stderr.toString().trim()}` };
    const nft = Bun.spawnSync(["ip", "netns", "exec", probe, "nft", "list", "ruleset"], { stderr: "pipe" });
    Bun.spawnSync(["ip", "netns", "del", probe]);
    if (nft.exitCode !== 0) return { ok: false, reason: `nft unusable: ${nft.stderr.toString().trim()}` };
    return { ok: true };
  };
  canRunCache = check();
  return canRunCache;
}

/**
 * CI sets HP_REQUIRE_NAT_TESTS=1: there, a machine that cannot run the NAT
 * tests is a failure, not a skip. Call from each NAT test file.
 */
export function failIfNatTestsRequired(can: { ok: boolean; reason?: string }, test: (name: string, fn: () => void) => void): void {
  if (can.ok || !process.env.HP_REQUIRE_NAT_TESTS) return;
  test("NAT tests can run on this machine (HP_REQUIRE_NAT_TESTS is set)", () => {
    throw new Error(`NAT tests required but cannot run: ${can.reason}`);
  });
}
