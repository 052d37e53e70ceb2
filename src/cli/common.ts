// Shared CLI plumbing: one-line errors with stable exit codes.
import type { CAC } from "cac";
import { ErrorCodes, type ErrorCode } from "../errors.ts";

export function fail(code: ErrorCode, message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(ErrorCodes[code]);
}

export function intOption(value: unknown, name: string, dflt: number, min: number, max: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail("BAD_ARGUMENT", `${name} must be an integer from ${min} to ${max}, not ${value}`);
  return n;
}

export function numberOption(value: unknown, name: string, dflt: number, min: number, max: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) fail("BAD_ARGUMENT", `${name} must be a number from ${min} to ${max}, not ${value}`);
  return n;
}

/**
 * Parses argv with cac's global options only, refusing unknown flags and
 * more than `maxArgs` positional arguments with one line and exit code 2.
 * Returns undefined when --help or --version was handled.
 */
export function parseArgv(cli: CAC, version: string, maxArgs: number): { args: string[]; options: Record<string, unknown> } | undefined {
  cli.help();
  cli.version(version);
  try {
    const parsed = cli.parse(camelFlags(process.argv), { run: false });
    for (const name of Object.keys(parsed.options)) {
      const known = cli.globalCommand.options.some((o) => o.names.includes(name)) || name === "--";
      const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      if (!known) throw new Error(`unknown option \`${name.length > 1 ? "--" : "-"}${kebab}\` (see --help)`);
    }
    if (parsed.args.length > maxArgs) throw new Error(`unexpected argument ${JSON.stringify(parsed.args[maxArgs])} (see --help)`);
    if (parsed.options.help || parsed.options.version) return undefined;
    return { args: parsed.args.map(String), options: parsed.options };
  } catch (e) {
    fail("BAD_ARGUMENT", (e as Error).message);
  }
}

/**
 * cac declares boolean flags under their camelCase names, so mri does not
 * know "--show-id" is a boolean and would swallow the next argument as its
 * value. Spelling long flags in camelCase before parsing fixes that ("--no-x"
 * negations are left as they are).
 */
export function camelFlags(argv: string[]): string[] {
  return argv.map((a) => {
    if (!a.startsWith("--") || a.startsWith("--no-") || a === "--") return a;
    const [name, ...value] = a.slice(2).split("=");
    const camel = name!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    return `--${camel}${value.length ? `=${value.join("=")}` : ""}`;
  });
}
