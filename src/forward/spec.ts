// What a client exposes to its peer and what it forwards to the peer's
// exposed targets (hp-client --expose / --forward). Pure parsing and matching.
//
//   --expose tcp:HOST:PORT   the peer may open TCP streams to HOST:PORT (from here)
//   --expose udp:HOST:PORT   the peer's UDP flows are sent to HOST:PORT (from here)
//   --forward tcp:LOCALPORT[:TARGETPORT]   connections to 127.0.0.1:LOCALPORT go to the peer's exposed TCP target
//   --forward udp:LOCALPORT[:TARGETPORT]   datagrams to 127.0.0.1:LOCALPORT go to the peer's exposed UDP target
//
// A forward names the target by its port when the peer exposes several of
// one protocol. The exposing side decides: a stream whose label matches none
// of its exposes is refused.

export type Proto = "tcp" | "udp";

export interface Expose {
  proto: Proto;
  host: string;
  port: number;
}

export interface Forward {
  proto: Proto;
  localPort: number;
  /** The peer's exposed target port, when it exposes several of this protocol. */
  targetPort?: number;
}

export class ForwardSpecError extends Error {
  readonly code = "BAD_ARGUMENT";
}

function port(text: string, what: string, allowZero = false): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535 || (n === 0 && !allowZero)) throw new ForwardSpecError(`${what}: ${JSON.stringify(text)} is not a port (1-65535)`);
  return n;
}

function proto(text: string, flag: string): Proto {
  if (text !== "tcp" && text !== "udp") throw new ForwardSpecError(`${flag}: protocol must be tcp or udp, not ${JSON.stringify(text)}`);
  return text;
}

/** "tcp:HOST:PORT" (HOST may be [v6]). */
export function parseExpose(spec: string): Expose {
  const m = /^([a-z]+):(\[[^\]]+\]|[^:]+):(\d+)$/.exec(spec);
  if (!m) throw new ForwardSpecError(`--expose ${JSON.stringify(spec)}: use tcp:HOST:PORT or udp:HOST:PORT`);
  return { proto: proto(m[1]!, "--expose"), host: m[2]!.replace(/^\[|\]$/g, ""), port: port(m[3]!, "--expose") };
}

/** "tcp:LOCALPORT" or "tcp:LOCALPORT:TARGETPORT". */
export function parseForward(spec: string): Forward {
  const m = /^([a-z]+):(\d+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ForwardSpecError(`--forward ${JSON.stringify(spec)}: use tcp:LOCALPORT[:TARGETPORT] or udp:LOCALPORT[:TARGETPORT]`);
  return { proto: proto(m[1]!, "--forward"), localPort: port(m[2]!, "--forward", true), targetPort: m[3] === undefined ? undefined : port(m[3], "--forward") };
}

/** The stream label (or datagram flow label) a forward asks for: "tcp" or "tcp:PORT". */
export function labelOf(f: Forward): string {
  return f.targetPort === undefined ? f.proto : `${f.proto}:${f.targetPort}`;
}

/** The exposed target a label asks for: by port, or the only one of that protocol; undefined: refuse. */
export function matchExpose(label: string, exposes: readonly Expose[]): Expose | undefined {
  const m = /^(tcp|udp)(?::(\d+))?$/.exec(label);
  if (!m) return undefined;
  const same = exposes.filter((e) => e.proto === m[1]);
  if (m[2] === undefined) return same.length === 1 ? same[0] : undefined;
  return same.find((e) => e.port === Number(m[2]));
}
