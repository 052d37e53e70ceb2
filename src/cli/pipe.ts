// hp-client --pipe: stdin and stdout as one raw, binary-safe, reliable
// stream each way ("netcat over a punched hole"). Each side sends its stdin on
// a "pipe" stream it opens once connected (ended at EOF) and copies the
// peer's "pipe" stream to stdout. Done when ours is acknowledged and theirs
// has ended. Progress on stderr only when stderr is a terminal.
import type { Stream } from "../transport/index.ts";

export const PIPE_LABEL = "pipe";
/**
 * The Bye reason a side sends once its pipe is complete. The peer takes it as
 * proof that its own stream arrived whole (the sender had read it to the
 * FIN), even if the last ACK was lost on the way.
 */
export const PIPE_COMPLETE = "pipe complete";
const PROGRESS_INTERVAL_MS = 1000;

export interface PipeSession {
  /** For ClientOptions.onStream: takes the peer's "pipe" stream. */
  onStream(stream: Stream, label: string): boolean;
  /** Call once connected, with the stream this side opened. */
  start(ours: Stream): void;
  /** Both directions are complete. */
  readonly complete: boolean;
  /**
   * The session ended. With both streams under way their outcome decides (what
   * arrived is still written out; an unacknowledged stream of ours fails);
   * without them the pipe is broken now.
   */
  disconnected(why: string): void;
}

/** `failCode`: the exit code when a pipe breaks (the peer's stream reset, ours not delivered). */
export function pipeSession(done: (code: number, why: string) => void, failCode: number): PipeSession {
  let sent = 0;
  let received = 0;
  let oursDone = false;
  let theirsDone = false;
  let started = false;
  let theirsSeen = false;
  /** The peer closed with PIPE_COMPLETE: it read our stream to its end. */
  let peerComplete = false;
  const t0 = performance.now();
  const finish = () => oursDone && theirsDone && done(0, PIPE_COMPLETE);
  const progress = process.stderr.isTTY
    ? setInterval(() => {
        const s = (performance.now() - t0) / 1000;
        process.stderr.write(`\r${fmt(sent)} sent, ${fmt(received)} received, ${fmt((sent + received) / s)}/s   `);
      }, PROGRESS_INTERVAL_MS)
    : undefined;
  const stop = () => progress && clearInterval(progress);

  async function toStdout(stream: Stream): Promise<void> {
    try {
      for await (const chunk of stream) {
        received += chunk.length;
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
      }
      theirsDone = true;
      stop();
      finish();
    } catch (e) {
      stop();
      done(failCode, `the peer's pipe failed: ${(e as Error).message}`);
    }
  }

  async function fromStdin(stream: Stream): Promise<void> {
    try {
      for await (const chunk of Bun.stdin.stream()) {
        sent += chunk.length;
        if (!stream.write(chunk)) await stream.writable();
      }
      stream.end();
      await stream.finished();
      oursDone = true;
      finish();
    } catch (e) {
      await settle(); // the session may have closed with the peer's PIPE_COMPLETE, whose event can come after
      if (peerComplete) {
        // Our last ACK was lost, but the peer read everything we sent.
        oursDone = true;
        finish();
        return;
      }
      stop();
      done(failCode, `our pipe failed: ${(e as Error).message}`);
    }
  }

  return {
    get complete() {
      return oursDone && theirsDone;
    },
    disconnected(why) {
      if (oursDone && theirsDone) return;
      if (why.endsWith(`: ${PIPE_COMPLETE}`)) peerComplete = true;
      if (!started || !theirsSeen) {
        stop();
        done(failCode, `the pipe broke: ${why}`);
      }
    },
    onStream(stream, label) {
      if (label !== PIPE_LABEL) return false;
      theirsSeen = true;
      void toStdout(stream);
      return true;
    },
    start(ours) {
      if (started) return;
      started = true;
      void fromStdin(ours);
    },
  };
}

/** Lets the events of the datagram that ended the session arrive (the `disconnected` event may come after a stream's end). */
const settle = () => new Promise((r) => setTimeout(r, 10));

function fmt(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}
