// Socket options Bun.udpSocket does not expose, set on its file descriptor
// through libc's setsockopt (bun:ffi). Today: a larger receive buffer for the
// server, so a burst of datagrams (hundreds of clients at once, a load
// generator) queues in the kernel instead of being dropped there. Best
// effort: where libc or the option is unavailable it returns false and the
// kernel default stays.
import type { Logger } from "../log.ts";

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
/** Like SO_RCVBUF, but may exceed net.core.rmem_max (needs CAP_NET_ADMIN). */
const SO_RCVBUFFORCE = 33;

type SetSockOpt = (fd: number, level: number, name: number, value: Int32Array) => number;
let setsockopt: SetSockOpt | null | undefined;

async function load(): Promise<SetSockOpt | null> {
  if (setsockopt !== undefined) return setsockopt;
  try {
    if (process.platform !== "linux") return (setsockopt = null);
    const { dlopen, FFIType, ptr } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", { setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });
    setsockopt = (fd, level, name, value) => libc.symbols.setsockopt(fd, level, name, ptr(value), 4) as number;
  } catch {
    setsockopt = null;
  }
  return setsockopt;
}

/** Asks for a receive buffer of `bytes` on socket `fd` (forced past rmem_max when allowed). True if the kernel took it. */
export async function setReceiveBuffer(fd: number, bytes: number, log?: Logger): Promise<boolean> {
  const set = await load();
  if (!set || !(fd >= 0)) return false;
  const value = Int32Array.of(bytes);
  if (set(fd, SOL_SOCKET, SO_RCVBUFFORCE, value) === 0 || set(fd, SOL_SOCKET, SO_RCVBUF, value) === 0) return true;
  log?.debug("could not enlarge the socket receive buffer", { bytes });
  return false;
}
