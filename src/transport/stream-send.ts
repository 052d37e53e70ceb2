// Filling a packet from the streams: queued controls (credit updates,
// resets, refusals) and the session credit first, then stream data,
// round-robin over the streams with something to send: each stream's lost
// ranges before its new bytes, new bytes only within the peer's credit.
import type { PacketDraft } from "./packet.ts";
import type { SentControl } from "./recovery.ts";
import type { Stream } from "./stream.ts";
import type { StreamTable } from "./streams.ts";
import { chunkSize, maxChunkData } from "./wire-size.ts";

/** Below this much room a packet takes no more chunks. */
const MIN_CHUNK_ROOM = 16;

export function fillControls(draft: PacketDraft, table: StreamTable): void {
  if (table.maxDataPending && draft.addMaxData(table.maxData)) table.maxDataPending = false;
  if (table.controls.length === 0) return;
  const kept: SentControl[] = [];
  for (const c of table.controls) {
    if (c.kind !== "maxOffset") {
      if (!draft.addControl(c, c.kind === "reset" ? c.finalSize : 0)) kept.push(c);
      continue;
    }
    const s = table.live.get(c.stream);
    if (!s) continue;
    if (s.recvAborted || s.finalSize !== undefined) {
      s.creditQueued = false;
      continue;
    }
    if (draft.addControl(c, s.recvMaxOffset)) s.creditQueued = false;
    else kept.push(c);
  }
  table.controls.splice(0, table.controls.length, ...kept);
}

/** Adds stream chunks while they fit; returns bytes of lost data sent again. */
export function fillStreams(draft: PacketDraft, table: StreamTable): number {
  const q = table.sendQueue;
  let retransmitted = 0;
  let idle = 0;
  while (q.length > 0 && draft.room >= MIN_CHUNK_ROOM && idle < q.length) {
    const s = q[0]!;
    const before = draft.size;
    retransmitted += fillFrom(s, draft, table);
    q.shift();
    if (!sendable(s, table)) {
      s.queued = false;
      continue;
    }
    q.push(s); // its turn is over: the next packet starts with the next stream
    idle = draft.size === before ? idle + 1 : 0;
  }
  return retransmitted;
}

export function sendable(s: Stream, table: StreamTable): boolean {
  if (s.resetSent) return false;
  const b = s.send;
  return b.openPending || b.hasLost || b.finOnlyDue || (b.unsent > 0 && credit(s, table) > 0);
}

function credit(s: Stream, table: StreamTable): number {
  return Math.min(s.peerMaxOffset - s.send.sent, table.sessionCredit());
}

function fillFrom(s: Stream, draft: PacketDraft, table: StreamTable): number {
  const b = s.send;
  let retransmitted = 0;
  while (!s.resetSent) {
    const lost = b.firstLost();
    const fresh = lost === undefined && b.unsent > 0 ? credit(s, table) : 0;
    if (lost !== undefined || fresh > 0) {
      const offset = lost ?? b.sent;
      const open = offset === 0 && s.local ? s.label : "";
      const openLen = utf8Length(open);
      let max = maxChunkData(draft.room, s.id, offset, true, openLen);
      if (lost === undefined) max = Math.min(max, fresh);
      if (max <= 0) break;
      const { data } = lost !== undefined ? b.takeLost(max)! : b.takeNew(max);
      if (lost !== undefined) retransmitted += data.length;
      else table.sentData += data.length;
      const fin = b.takeFin(offset + data.length);
      draft.addChunk(s.id, offset, data, fin, open, openLen);
      if (offset === 0) b.openPending = false;
      continue;
    }
    // Nothing to send but the opening (no data yet, or no credit) or the FIN.
    const offset = b.openPending ? 0 : b.written;
    if (!b.openPending && !b.finOnlyDue) break;
    const open = b.openPending && s.local ? s.label : "";
    const openLen = utf8Length(open);
    const finNow = b.fin === "pending" && offset === b.written;
    if (chunkSize(s.id, offset, 0, finNow, openLen) > draft.room) break;
    draft.addChunk(s.id, offset, new Uint8Array(0), b.takeFin(offset), open, openLen);
    b.openPending = false;
  }
  return retransmitted;
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
