// Compiles the two CLIs into standalone executables in dist/.
import { $ } from "bun";

const targets = [
  { entry: "src/cli/server.ts", out: "dist/hp-server" },
  { entry: "src/cli/client.ts", out: "dist/hp-client" },
];

for (const t of targets) {
  // --bytecode: precompiled JS, about half the start-up time (counts in time-to-connect).
  await $`bun build --compile --minify --sourcemap --bytecode --format=esm ${t.entry} --outfile ${t.out}`.quiet();
  console.log(`built ${t.out}`);
}
