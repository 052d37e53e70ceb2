// Text-mode rendering of client events: chat on stdout, the rest on stderr.
import type { ClientEvent } from "../client/client.ts";
import type { NatReport } from "../client/nat-check.ts";
import type { Logger } from "../log.ts";

export function renderText(e: ClientEvent, log: Logger): void {
  switch (e.event) {
    case "message":
      process.stdout.write(`${e.from}: ${e.text}\n`);
      return;
    case "registered":
      return log.info(`registered as ${e.name}; the server sees us at ${e.observed}`);
    case "connected":
      return log.info(`connected to ${e.peer} at ${e.address} (${e.path}, rtt ${e.rtt_ms} ms): type lines to chat`);
    case "path":
      return log.info(`now ${e.path} to ${e.peer} at ${e.address}`);
    case "disconnected":
      return log.info(`${e.peer} disconnected: ${e.reason}`, e.unacked ? { unacked: e.unacked } : undefined);
    case "error":
      process.stderr.write(`error: ${e.message}\n`);
      return;
  }
}

const verdicts: Record<NatReport["mapping"], string> = {
  "endpoint-independent": "easy: one public port for every destination (hole punching works with most peers)",
  "endpoint-dependent-sequential": "hard but predictable: a new public port per destination, in steps",
  "endpoint-dependent-random": "hard: a new random public port per destination (direct only with easy peers; else the relay)",
  unknown: "unknown (the server has no second port to compare with)",
};

export function describeNat(r: NatReport): string {
  if (!r.udp) return "UDP: no answer from the server (blocked, or the server is down)\n";
  const lines = [
    "UDP: works",
    `NAT mapping: ${verdicts[r.mapping]}${r.step !== undefined ? ` (step ${r.step})` : ""}`,
    `local port kept as public port: ${r.portPreserved ? "yes" : "no"}`,
    ...r.observations.map((o) => `  socket ${o.socket} -> ${o.server}: seen as ${o.observed}`),
  ];
  return lines.join("\n") + "\n";
}
