// Transport failures, one class per failure with a stable `code` (check the
// code, not instanceof). They reach the application through Stream methods;
// malformed input from the network is never thrown, only counted.

export type TransportErrorCode =
  | "TRANSPORT_CLOSED" // close() was called: every stream ends with this
  | "STREAM_RESET" // the stream was aborted (by us or by the peer) with an application code
  | "STREAM_REFUSED" // the peer refused the stream we opened
  | "STREAM_ENDED" // write() after end()
  | "STREAM_IDS_EXHAUSTED" // 2^31 streams opened from this side
  | "BAD_ARGUMENT"; // an option or argument out of range

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = "TransportError";
    this.code = code;
  }
}

export class TransportClosedError extends TransportError {
  constructor() {
    super("TRANSPORT_CLOSED", "transport closed");
    this.name = "TransportClosedError";
  }
}

export class StreamResetError extends TransportError {
  constructor(
    readonly stream: number,
    readonly resetCode: number,
    readonly byPeer: boolean,
  ) {
    super("STREAM_RESET", `stream ${stream} reset by ${byPeer ? "peer" : "us"} (code ${resetCode})`);
    this.name = "StreamResetError";
  }
}

export class StreamRefusedError extends TransportError {
  constructor(
    readonly stream: number,
    readonly refuseCode: number,
    readonly byPeer: boolean,
  ) {
    super("STREAM_REFUSED", `stream ${stream} refused by ${byPeer ? "peer" : "us"} (code ${refuseCode})`);
    this.name = "StreamRefusedError";
  }
}

export class StreamEndedError extends TransportError {
  constructor(readonly stream: number) {
    super("STREAM_ENDED", `stream ${stream}: write after end()`);
    this.name = "StreamEndedError";
  }
}

export class StreamIdsExhaustedError extends TransportError {
  constructor() {
    super("STREAM_IDS_EXHAUSTED", "no stream ids left on this transport");
    this.name = "StreamIdsExhaustedError";
  }
}

export class BadArgumentError extends TransportError {
  constructor(message: string) {
    super("BAD_ARGUMENT", message);
    this.name = "BadArgumentError";
  }
}
