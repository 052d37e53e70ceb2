// Human-readable (text) or structured (json) logs, always on stderr so that
// stdout stays the user's data (chat lines or JSON events).

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(opts: {
  format?: LogFormat;
  level?: LogLevel;
  write?: (line: string) => void;
  component?: string;
}): Logger {
  const format = opts.format ?? "text";
  const min = order[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const emit = (level: LogLevel, msg: string, fields: Fields = {}) => {
    if (order[level] < min) return;
    if (format === "json") {
      write(JSON.stringify({ ts: new Date().toISOString(), level, component: opts.component, msg, ...fields }));
      return;
    }
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : v}`)
      .join(" ");
    const prefix = opts.component ? `${opts.component}: ` : "";
    write(`${new Date().toISOString().slice(11, 23)} ${level.padEnd(5)} ${prefix}${msg}${extra ? " " + extra : ""}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that discards everything (library default, tests). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that adds `fields` to every line (e.g. a punch attempt's request_id). */
export function withFields(log: Logger, fields: Fields): Logger {
  const at = (f: (msg: string, more?: Fields) => void) => (msg: string, more?: Fields) => f.call(log, msg, { ...fields, ...more });
  return { debug: at(log.debug), info: at(log.info), warn: at(log.warn), error: at(log.error) };
}
