// Shared CLI plumbing: one-line errors with stable exit codes.
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
