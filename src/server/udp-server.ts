// Runs a Rendezvous on a real UDP socket, with a periodic sweep.
import { DEFAULT_PORT, SWEEP_INTERVAL } from "../constants.ts";
import { bindUdpAny } from "../net/udp.ts";
import { silentLogger, type Logger } from "../log.ts";
import { Rendezvous, type RendezvousOptions } from "./rendezvous.ts";

export interface ServerOptions extends Omit<RendezvousOptions, "send" | "now" | "log"> {
  /** Address to bind; default "::" (all interfaces, IPv4 and IPv6). */
  host?: string;
  /** UDP port; default 39738. 0 picks a free port. */
  port?: number;
  log?: Logger;
}

export interface RunningServer {
  readonly port: number;
  readonly host: string;
  readonly core: Rendezvous;
  stop(): void;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? silentLogger;
  let core: Rendezvous | undefined;
  const udp = await bindUdpAny({
    hostname: opts.host,
    port: opts.port ?? DEFAULT_PORT,
    log,
    onPacket: (bytes, from) => core!.handle(bytes, from),
  });
  core = new Rendezvous({ ...opts, log, now: () => performance.now(), send: (b, to) => udp.send(b, to) });
  const sweeper = setInterval(() => core!.sweep(), SWEEP_INTERVAL);
  return {
    port: udp.port,
    host: udp.hostname,
    core,
    stop() {
      clearInterval(sweeper);
      udp.close();
    },
  };
}
