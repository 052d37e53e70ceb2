// Text-mode rendering of client events: chat on stdout, the rest on stderr.
import type { ClientEvent } from "../client/client.ts";
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
    case "disconnected":
      return log.info(`${e.peer} disconnected: ${e.reason}`, e.unacked ? { unacked: e.unacked } : undefined);
    case "error":
      process.stderr.write(`error: ${e.message}\n`);
      return;
  }
}
