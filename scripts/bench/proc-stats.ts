// What /proc says about a process, for the benchmarks (Linux only).
import { readFileSync } from "node:fs";

/** Kernel clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
export const CLK_TCK = 100;

/** utime + stime of `pid`, seconds; undefined where /proc is missing or the process is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}
