// One TransportPacket being filled up to the size budget, together with the
// record of what it carries (for recovery: acked or lost, frame by frame).
// Sizes are exact (wire-size.ts), so the encoded packet never exceeds the budget.
import { create } from "@bufbuild/protobuf";
import {
  StreamChunkSchema,
  StreamControlSchema,
  TransportAckSchema,
  TransportDatagramSchema,
  TransportPacketSchema,
  type StreamChunk,
  type StreamControl,
  type TransportAck,
  type TransportDatagram,
  type TransportPacket,
} from "../gen/holepunch/v1/holepunch_pb.ts";
import type { AckFields } from "./ack-ranges.ts";
import type { SentControl, SentPacket } from "./recovery.ts";
import { ackSize, chunkSize, controlSize, datagramSize, varintField } from "./wire-size.ts";

export class PacketDraft {
  size: number;
  private ack: TransportAck | undefined;
  private readonly chunks: StreamChunk[] = [];
  private readonly controls: StreamControl[] = [];
  private readonly datagrams: TransportDatagram[] = [];
  private maxData = 0;
  private ping = false;
  readonly record: SentPacket;

  constructor(
    readonly pn: number,
    readonly budget: number,
    now: number,
  ) {
    this.size = varintField(pn);
    this.record = { pn, timeSent: now, size: 0, ackEliciting: false, chunks: [], controls: [], maxData: false, datagrams: 0, ackLargest: -1 };
  }

  get room(): number {
    return this.budget - this.size;
  }

  get isEmpty(): boolean {
    return !this.ack && !this.record.ackEliciting;
  }

  get hasAck(): boolean {
    return this.ack !== undefined;
  }

  get ackEliciting(): boolean {
    return this.record.ackEliciting;
  }

  addAck(f: AckFields, delayUs: number): boolean {
    const n = ackSize(f.largest, delayUs, f.firstLength, f.ranges);
    if (n > this.room) return false;
    this.size += n;
    this.ack = create(TransportAckSchema, {
      largest: BigInt(f.largest),
      delayUs,
      firstLength: BigInt(f.firstLength),
      ranges: f.ranges.map(BigInt),
    });
    this.record.ackLargest = f.largest;
    return true;
  }

  /** Adds a chunk (`open` is the label, sent on offset 0 of a stream we opened). */
  addChunk(stream: number, offset: number, data: Uint8Array, fin: boolean, open: string, openLen: number): boolean {
    const n = chunkSize(stream, offset, data.length, fin, openLen);
    if (n > this.room) return false;
    this.size += n;
    this.chunks.push(create(StreamChunkSchema, { stream, offset: BigInt(offset), data, fin, open }));
    this.record.chunks.push({ stream, offset, length: data.length, fin });
    this.record.ackEliciting = true;
    return true;
  }

  addControl(sent: SentControl, maxOffset: number): boolean {
    const reset = sent.kind === "reset" ? sent.code : 0;
    const refuse = sent.kind === "refuse" ? sent.code : 0;
    const n = controlSize(sent.stream, maxOffset, reset, refuse);
    if (n > this.room) return false;
    this.size += n;
    this.controls.push(create(StreamControlSchema, { stream: sent.stream, maxOffset: BigInt(maxOffset), reset, refuse }));
    this.record.controls.push(sent);
    this.record.ackEliciting = true;
    return true;
  }

  addMaxData(value: number): boolean {
    const n = varintField(value);
    if (n > this.room) return false;
    this.size += n;
    this.maxData = value;
    this.record.maxData = true;
    this.record.ackEliciting = true;
    return true;
  }

  addDatagram(flow: number, data: Uint8Array): boolean {
    const n = datagramSize(flow, data.length);
    if (n > this.room) return false;
    this.size += n;
    this.datagrams.push(create(TransportDatagramSchema, { flow, data }));
    this.record.datagrams++;
    this.record.ackEliciting = true;
    return true;
  }

  /** Makes the packet ack-eliciting (a probe with nothing else to carry). */
  addPing(): void {
    if (this.ping) return;
    this.size += 2;
    this.ping = true;
    this.record.ackEliciting = true;
  }

  message(): TransportPacket {
    this.record.size = this.size;
    return create(TransportPacketSchema, {
      number: BigInt(this.pn),
      ack: this.ack,
      chunks: this.chunks,
      controls: this.controls,
      datagrams: this.datagrams,
      maxData: BigInt(this.maxData),
      ackElicitingPing: this.ping,
    });
  }
}
