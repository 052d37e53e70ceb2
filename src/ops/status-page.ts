// GET / and GET /status.json: what a person watching the server wants to see,
// as a JSON model (buildStatus) and as one self-contained HTML document
// (renderStatusPage). The document's script refreshes the numbers from
// /status.json; the server also fills the headline numbers in, so a fetch
// without JavaScript shows them. Every string that goes into HTML is escaped.
//
// The HTML/CSS/JS lives in status-page.html, imported as text so that
// `bun build --compile` embeds it in the executable.
import page from "./status-page.html" with { type: "text" };
import { successRate, type History, type HistoryPoint } from "./history.ts";
import type { ServerSnapshot } from "./snapshot.ts";

/** The document with its {{placeholders}} (bun-types calls every *.html an HTMLBundle; as text it is a string). */
const template = page as unknown as string;

/** How often the page fetches /status.json. */
export const PAGE_REFRESH_MS = 5000;
/** Drop reasons listed on the page. */
const TOP_DROPS = 5;

export interface StatusPoint extends HistoryPoint {
  successRate: number | null;
  relayBytesPerSecond: number;
}

/** The body of /status.json. */
export interface StatusJson {
  instance: string;
  version: string;
  mode: "memory" | "redis";
  /** Redis reachable (always true in memory mode). */
  redisUp: boolean;
  nowMs: number;
  uptimeSeconds: number;
  clientsOnline: number;
  punches: { started: number; direct: number; relay: number; failed: number; successRate: number | null };
  /** bytesPerSecond: over the last history interval (null before the first one). */
  relay: { sessions: number; bytesTotal: number; bytesPerSecond: number | null };
  dropped: { total: number; top: { reason: string; count: number }[] };
  history: { intervalMs: number; keepMs: number; points: StatusPoint[] };
}

export function buildStatus(s: ServerSnapshot, history: History): StatusJson {
  const points = history.points().map((p) => ({
    ...p,
    successRate: successRate(p),
    relayBytesPerSecond: p.spanMs > 0 ? (p.relayBytes * 1000) / p.spanMs : 0,
  }));
  const drops = Object.entries(s.dropped).filter(([, n]) => n > 0);
  return {
    instance: s.cluster.instance,
    version: s.version,
    mode: s.cluster.mode,
    redisUp: s.cluster.redisUp,
    nowMs: s.nowMs,
    uptimeSeconds: Math.max(0, Math.floor((s.nowMs - s.startedAtMs) / 1000)),
    clientsOnline: s.registrations,
    punches: { ...s.punches, successRate: successRate(s.punches) },
    relay: {
      sessions: s.relaySessions,
      bytesTotal: s.counters.relay_bytes ?? 0,
      bytesPerSecond: points.at(-1)?.relayBytesPerSecond ?? null,
    },
    dropped: {
      total: drops.reduce((sum, [, n]) => sum + n, 0),
      top: drops
        .sort(([ra, a], [rb, b]) => b - a || (ra < rb ? -1 : 1))
        .slice(0, TOP_DROPS)
        .map(([reason, count]) => ({ reason, count })),
    },
    history: { intervalMs: history.intervalMs, keepMs: history.keepMs, points },
  };
}

// ---- formatting: the page's script has the same functions (the browser test checks they agree) ----

export const formatCount = (n: number): string => n.toLocaleString("en-US");
export const formatPercent = (r: number | null): string => (r === null ? "—" : `${(r * 100).toFixed(1)}%`);

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) (n /= 1000), i++;
  return `${i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[i]}`;
}
export const formatRate = (n: number | null): string => (n === null ? "—" : `${formatBytes(n)}/s`);

export function formatUptime(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function redisBadge(st: Pick<StatusJson, "mode" | "redisUp">): { text: string; cls: "ok" | "bad" | "off" } {
  if (st.mode !== "redis") return { text: "no redis (memory mode)", cls: "off" };
  return st.redisUp ? { text: "redis up", cls: "ok" } : { text: "redis down", cls: "bad" };
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** Text safe in HTML content and in quoted attribute values. */
export const escapeHtml = (v: string): string => v.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** Markup built here from escaped parts, put into the template as is. */
class Html {
  constructor(readonly html: string) {}
}

function dropRows(st: StatusJson): Html {
  if (st.dropped.top.length === 0) return new Html('<tr class="empty"><td colspan="3">nothing dropped</td></tr>');
  return new Html(
    st.dropped.top
      .map((d) => {
        const share = st.dropped.total > 0 ? formatPercent(d.count / st.dropped.total) : "—";
        return `<tr><td>${escapeHtml(d.reason)}</td><td class="num">${escapeHtml(formatCount(d.count))}</td><td class="num">${escapeHtml(share)}</td></tr>`;
      })
      .join(""),
  );
}

/** The page, with the headline numbers of `st` filled in. */
export function renderStatusPage(st: StatusJson): string {
  const badge = redisBadge(st);
  const fields: Record<string, string | number | Html> = {
    "refresh-ms": PAGE_REFRESH_MS,
    instance: st.instance,
    version: st.version,
    mode: st.mode,
    uptime: formatUptime(st.uptimeSeconds),
    "redis-text": badge.text,
    "redis-class": badge.cls,
    "clients-online": formatCount(st.clientsOnline),
    "clients-online-value": st.clientsOnline,
    "punch-success-rate": formatPercent(st.punches.successRate),
    "punch-success-rate-value": st.punches.successRate ?? "",
    "punches-started": formatCount(st.punches.started),
    "punches-direct": formatCount(st.punches.direct),
    "punches-relay": formatCount(st.punches.relay),
    "punches-failed": formatCount(st.punches.failed),
    "punches-finished": formatCount(st.punches.direct + st.punches.relay + st.punches.failed),
    "relay-rate": formatRate(st.relay.bytesPerSecond),
    "relay-rate-value": st.relay.bytesPerSecond ?? "",
    "relay-sessions": formatCount(st.relay.sessions),
    "relay-total": formatBytes(st.relay.bytesTotal),
    "dropped-total": formatCount(st.dropped.total),
    "drop-rows": dropRows(st),
  };
  return template.replace(/\{\{([a-z-]+)\}\}/g, (_, key: string) => {
    const v = fields[key];
    if (v === undefined) throw new Error(`status page: no value for {{${key}}}`);
    return v instanceof Html ? v.html : escapeHtml(String(v));
  });
}

/** sha256 of every inline <script> and <style> of the page, for its Content-Security-Policy. */
function inlineHashes(tag: "script" | "style"): string {
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  return [...template.matchAll(re)].map((m) => `'sha256-${new Bun.CryptoHasher("sha256").update(m[1]!).digest("base64")}'`).join(" ");
}

/** Only the page's own script and style run; it may fetch only from its own origin; nothing else loads. */
export const STATUS_PAGE_CSP = `default-src 'none'; script-src ${inlineHashes("script")}; style-src ${inlineHashes("style")}; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
