// hp-server's operations endpoint (HTTP, for people and monitoring):
//
//   GET /             status page (HTML, refreshes itself from /status.json)
//   GET /status.json  what the page shows
//   GET /metrics      Prometheus text format 0.0.4
//   GET /healthz      200 {"status":"ok"} | 200 {"status":"degraded"} (Redis down:
//                     this instance still serves its own clients) | 503 {"status":"draining"}
//
// HEAD is answered like GET; another method on these paths is 405, any other path 404.
// The server samples the history (for the page's charts) at start and then every interval.
import { silentLogger, type Logger } from "../log.ts";
import { History } from "./history.ts";
import { processFacts as readProcessFacts, renderMetrics, type ProcessFacts } from "./prometheus.ts";
import type { ServerSnapshot } from "./snapshot.ts";
import { buildStatus, renderStatusPage, STATUS_PAGE_CSP } from "./status-page.ts";

export interface OpsServerOptions {
  /** Address to listen on (e.g. "127.0.0.1"; the endpoint tells anyone who can reach it about the server). */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** The server's current state; called for every request and every history sample. */
  snapshot: () => ServerSnapshot;
  log?: Logger;
  /** History to keep sampling (default: an empty one with HISTORY_INTERVAL and HISTORY_KEEP). */
  history?: History;
  /** Process facts for /metrics (default: the real ones, processFacts()). */
  processFacts?: () => ProcessFacts;
}

export interface OpsServer {
  /** The port bound (the real one when asked for 0). */
  port: number;
  /** Base URL, ending in "/". */
  url: string;
  /** Begins shutting down without closing: /healthz answers 503 from now on, so load balancers stop sending. */
  drain(): void;
  /** Drains, stops sampling and closes the listener (requests in flight complete). */
  stop(): void;
}

const HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
const METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const ROUTES = new Set(["/", "/status.json", "/metrics", "/healthz"]);

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { ...HEADERS, "content-type": "application/json" } });
const text = (body: string, status: number, extra: Record<string, string> = {}) =>
  new Response(body, { status, headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8", ...extra } });

/** GET /healthz: the code and body for a snapshot (draining wins over everything). */
export function health(s: ServerSnapshot, draining: boolean): { status: number; body: Record<string, unknown> } {
  const facts = { instance: s.cluster.instance, version: s.version, mode: s.cluster.mode, uptimeSeconds: Math.floor((s.nowMs - s.startedAtMs) / 1000) };
  if (draining) return { status: 503, body: { status: "draining", reason: "shutting down", ...facts } };
  if (s.cluster.mode === "redis" && !s.cluster.redisUp) {
    return { status: 200, body: { status: "degraded", reason: "redis unreachable: serving only this instance's own clients", ...facts } };
  }
  return { status: 200, body: { status: "ok", ...facts } };
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const log = opts.log ?? silentLogger;
  const history = opts.history ?? new History();
  const facts = opts.processFacts ?? readProcessFacts;
  let draining = false;

  const sample = () => {
    try {
      history.sample(opts.snapshot());
    } catch (e) {
      log.warn("ops: history sample failed", { error: String(e) });
    }
  };

  const route = (path: string): Response => {
    switch (path) {
      case "/metrics":
        return text(renderMetrics(opts.snapshot(), facts()), 200, { "content-type": METRICS_TYPE });
      case "/healthz": {
        const h = health(opts.snapshot(), draining);
        return json(h.body, h.status);
      }
      case "/status.json":
        return json(buildStatus(opts.snapshot(), history));
      default: // "/"
        return new Response(renderStatusPage(buildStatus(opts.snapshot(), history)), {
          headers: { ...HEADERS, "content-type": "text/html; charset=utf-8", "content-security-policy": STATUS_PAGE_CSP, "referrer-policy": "no-referrer" },
        });
    }
  };

  const server = Bun.serve({
    hostname: opts.host,
    port: opts.port,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (!ROUTES.has(path)) return text("not found\n", 404);
      if (req.method !== "GET" && req.method !== "HEAD") return text("method not allowed\n", 405, { allow: "GET, HEAD" });
      try {
        return route(path);
      } catch (e) {
        log.error("ops: request failed", { path, error: String(e) });
        return text("internal error\n", 500);
      }
    },
  });

  sample();
  const timer = setInterval(sample, history.intervalMs);
  timer.unref();
  const port = server.port ?? opts.port;
  const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}/`;
  log.info("ops endpoint listening", { url });
  return {
    port,
    url,
    drain: () => void (draining = true),
    stop() {
      draining = true;
      clearInterval(timer);
      void server.stop();
    },
  };
}
