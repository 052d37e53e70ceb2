// Shared by the identity tests: temp dirs that are removed after the suite,
// and assertions on an IdentityError's stable code.
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isIdentityError, type IdentityErrorCode } from "../../src/identity/errors.ts";

/**
 * Call once at the top level of a test file: returns a maker of temp dirs that
 * are removed after that file's tests (bun shares this module between files).
 */
export function useTempDirs(): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), "hp-identity-"));
    dirs.push(d);
    return d;
  };
}

export const modeOf = (path: string) => statSync(path).mode & 0o777;

/** Runs `fn` and returns the IdentityError it threw (failing unless it has `code`). */
export async function identityError(fn: () => unknown, code: IdentityErrorCode): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    expect(isIdentityError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).not.toContain("\n");
    return e as Error;
  }
  throw new Error(`expected IdentityError ${code}, nothing was thrown`);
}
