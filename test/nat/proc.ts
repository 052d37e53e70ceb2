// Running commands inside network namespaces: one-shot `exec` and long-lived
// `spawn` handles with an event-driven line reader (`waitFor`).
import type { Subprocess } from "bun";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Text fed to the command's stdin. */
  stdin?: string;
  /** Throw (with stderr) when the exit code is not 0. */
  check?: boolean;
}

export interface SpawnOptions {
  /** Extra environment variables (merged over the current environment). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface WaitOptions {
  /** Which stream to search; stdout by default. */
  stream?: "stdout" | "stderr";
  /** Description used in error messages (defaults to the predicate source). */
  what?: string;
}

/** A stdout/stderr line: the parsed JSON value when the line is JSON, else the raw string. */
// `any` on purpose: lines are free-form JSON, and it keeps predicates short.
export type Line = any;
export type LinePredicate = (line: Line) => boolean;

/** argv prefixed with `ip netns exec <ns>`; ns === null runs in the current namespace. */
export function inNs(ns: string | null, argv: string[]): string[] {
  return ns === null ? argv : ["ip", "netns", "exec", ns, ...argv];
}

/** Runs a command in a namespace and collects its output. */
export async function exec(ns: string | null, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const p = Bun.spawn(inNs(ns, argv), {
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (opts.check && code !== 0) {
    throw new Error(`[${ns ?? "root"}] ${argv.join(" ")} -> exit ${code}\n${stderr}${stdout}`);
  }
  return { code, stdout, stderr };
}

function parseLine(text: string): Line {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function tail(text: string, max = 6000): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

/** Every live handle, so the process-exit hook can kill leftovers. */
export const liveProcs = new Set<Proc>();

export class Proc {
  /** Parsed stdout lines, in arrival order (never consumed by waitFor). */
  readonly lines: Line[] = [];
  readonly errLines: Line[] = [];
  stdoutText = "";
  stderrText = "";
  /** Exit code once the process has exited and both pipes are drained. */
  exitCode: number | null = null;
  /** Resolves with the exit code once the process exited and its output was read. */
  readonly exited: Promise<number>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly ns: string | null,
    readonly argv: string[],
    private readonly sub: Subprocess<"pipe", "pipe", "pipe">,
  ) {
    const out = this.pump(sub.stdout, (l) => {
      this.stdoutText += `${l}\n`;
      this.lines.push(parseLine(l));
    });
    const err = this.pump(sub.stderr, (l) => {
      this.stderrText += `${l}\n`;
      this.errLines.push(parseLine(l));
    });
    this.exited = Promise.all([sub.exited, out, err]).then(([code]) => {
      this.exitCode = code;
      liveProcs.delete(this);
      this.notify();
      return code;
    });
    liveProcs.add(this);
  }

  get pid(): number {
    return this.sub.pid;
  }

  get label(): string {
    return `[${this.ns ?? "root"}] ${this.argv.join(" ")}`;
  }

  /** Writes one line (a newline is appended) to the process's stdin. */
  writeLine(line: string): void {
    this.sub.stdin.write(`${line}\n`);
    this.sub.stdin.flush();
  }

  /** Closes stdin (EOF for the child). */
  endInput(): void {
    this.sub.stdin.end();
  }

  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    if (this.exitCode === null) this.sub.kill(signal);
  }

  /** Resolves with the exit code, or rejects (with the output) if still running after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<number> {
    const timedOut = Symbol();
    const r = await Promise.race([this.exited, Bun.sleep(timeoutMs).then(() => timedOut)]);
    if (r === timedOut) throw new Error(`${this.label} still running after ${timeoutMs} ms\n${this.output()}`);
    return r as number;
  }

  /** Collected stdout and stderr, for failure messages. */
  output(): string {
    return `--- stdout of ${this.label} ---\n${tail(this.stdoutText)}--- stderr ---\n${tail(this.stderrText)}`;
  }

  /**
   * Resolves with the first line (from the start of the output) matching the
   * predicate; rejects on timeout or when the process exits without one.
   */
  waitFor(pred: LinePredicate, timeoutMs: number, opts: WaitOptions = {}): Promise<Line> {
    const what = opts.what ?? pred.toString();
    const list = opts.stream === "stderr" ? this.errLines : this.lines;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        const hit = list.find((l) => safely(pred, l));
        if (hit !== undefined) {
          finish();
          resolve(hit);
        } else if (this.exitCode !== null) {
          finish();
          reject(new Error(`${this.label} exited with ${this.exitCode} before ${what}\n${this.output()}`));
        }
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`timeout (${timeoutMs} ms) waiting for ${what}\n${this.output()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Shorthand: waits for a JSON line whose `event` field equals `event` (and whose fields match `fields`). */
  waitForEvent(event: string, timeoutMs: number, fields: Record<string, unknown> = {}): Promise<Line> {
    const pred = (l: Line) =>
      typeof l === "object" && l !== null && l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v);
    return this.waitFor(pred, timeoutMs, { what: `event ${JSON.stringify({ event, ...fields })}` });
  }

  /**
   * Asserts that no line matching the predicate shows up within `windowMs`
   * (for negative tests: the wait *is* the thing being tested).
   */
  async expectNoLine(pred: LinePredicate, windowMs: number, what = pred.toString()): Promise<void> {
    const seen = await this.waitFor(pred, windowMs, { what }).then(
      (l) => l,
      () => undefined,
    );
    if (seen !== undefined) {
      throw new Error(`unexpected line matching ${what}: ${JSON.stringify(seen)}\n${this.output()}`);
    }
  }

  private async pump(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i = buf.indexOf("\n");
      while (i >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
      }
      this.notify();
    }
    buf += dec.decode();
    if (buf) onLine(buf);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

function safely(pred: LinePredicate, l: Line): boolean {
  try {
    return pred(l);
  } catch {
    return false;
  }
}

/** Starts a long-lived command inside a namespace. */
export function spawn(ns: string | null, argv: string[], opts: SpawnOptions = {}): Proc {
  const sub = Bun.spawn(inNs(ns, argv), {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
  });
  return new Proc(ns, argv, sub);
}
