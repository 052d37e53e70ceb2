// The status page in a real browser: Debian's headless Chromium loads it from
// startOpsServer on 127.0.0.1 and we read the DOM after the page's script ran.
//
// Honesty of "the script put the numbers there": in each run the server
// renders the HTML from one snapshot (PAGE) and answers /status.json from
// another (JSON_). A plain fetch, and the browser when /status.json fails,
// show PAGE's numbers (rendered by the server); with /status.json answering,
// the DOM shows JSON_'s, which only the page's script can have put there
// (and only if the Content-Security-Policy let it run).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { byId, runChromium } from "./support/chromium.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { History } from "../src/ops/history.ts";
import { startOpsServer, type OpsServer } from "../src/ops/http.ts";
import type { ServerSnapshot } from "../src/ops/snapshot.ts";

/** Kept after the run so a person can look at it. */
const SCREENSHOT = join(tmpdir(), "hp-status-page.png");
const T0 = 1_700_000_000_000;
const INTERVALS = 30;

function snap(nowMs: number, p: ServerSnapshot["punches"], over: Partial<ServerSnapshot> = {}): ServerSnapshot {
  return {
    version: "0.1.0",
    nowMs,
    startedAtMs: T0 - 3_600_000,
    registrations: 7,
    relaySessions: 3,
    counters: {},
    dropped: {},
    punches: p,
    cluster: { mode: "redis", instance: "eu-1", redisUp: true, sent: {}, received: {} },
    ...over,
  };
}

// Five minutes of history before the server starts: interval i started 1 punch
// (none when i % 5 == 0: no success rate there), failed when i % 7 == 0, 5 kB/s relayed.
const history = new History();
let totals = { started: 0, direct: 0, relay: 0, failed: 0 };
for (let i = 0; i < INTERVALS; i++) {
  if (i > 0 && i % 5 !== 0) {
    const failed = i % 7 === 0 ? 1 : 0;
    totals = { ...totals, started: totals.started + 1, direct: totals.direct + 1 - failed, failed: totals.failed + failed };
  }
  history.sample(snap(T0 + i * 10_000, totals, { counters: { relay_bytes: i * 50_000 } }));
}
const NOW = T0 + INTERVALS * 10_000;
const nasty = '"><img src=x onerror=alert(1) id=pwned>';
/** What the HTML is rendered from: 7 online, 12 started, 9 direct, 2 relay, 1 failed. */
const PAGE = snap(NOW, { started: 12, direct: 9, relay: 2, failed: 1 }, {
  counters: { relay_bytes: (INTERVALS - 1) * 50_000 + 150_000 },
  dropped: { malformed: 3, [`evil${nasty}`]: 2 },
  cluster: { mode: "redis", instance: `page${nasty}`, redisUp: true, sent: {}, received: {} },
});
/** What /status.json says after the page went out (the last interval: 16 started, 11 direct, 3 relay, 1 failed). */
const JSON_ = snap(NOW, { started: 40, direct: 31, relay: 3, failed: 5 }, {
  registrations: 11,
  relaySessions: 4,
  counters: { relay_bytes: (INTERVALS - 1) * 50_000 + 150_000 },
  dropped: { rate_limited: 10, malformed: 4, not_ours: 3, amplification_guard: 2, relay_quota: 1, relay_idle: 1 },
  cluster: { mode: "redis", instance: `json${nasty}`, redisUp: false, sent: {}, received: {} },
});

/** The snapshots the server gets, one per call, the last one repeating (an Error is thrown). */
const sequence = (...s: (ServerSnapshot | Error)[]) => {
  let i = 0;
  return () => {
    const v = s[Math.min(i++, s.length - 1)]!;
    if (v instanceof Error) throw v;
    return v;
  };
};
let next = sequence(JSON_);
let server: OpsServer;
beforeAll(async () => {
  // Sampled once at start (JSON_: the 30th interval); each run then sets the sequence its requests get.
  server = await startOpsServer({ host: "127.0.0.1", port: 0, history, snapshot: () => next() });
});
afterAll(() => server.stop());

/** Runs chromium on the page; the page is rendered from PAGE, later requests get `then`. */
async function chromium(args: string[], then: ServerSnapshot | Error = JSON_): Promise<string> {
  try {
    next = sequence(PAGE, then);
    return await runChromium(server.url, args);
  } finally {
    next = sequence(JSON_);
  }
}

const numbers = (dom: string) =>
  Object.fromEntries(
    ["clients-online", "punch-success-rate", "punches-started", "punches-direct", "punches-relay", "punches-failed", "relay-sessions", "relay-rate", "redis-status"].map((id) => [id, byId(dom, id).text]),
  );
const count = (dom: string, re: RegExp) => dom.match(re)?.length ?? 0;

/** The headline numbers of PAGE, as the page shows them. */
const PAGE_NUMBERS = {
  "clients-online": "7",
  "punch-success-rate": "91.7%",
  "punches-started": "12",
  "punches-direct": "9",
  "punches-relay": "2",
  "punches-failed": "1",
  "relay-sessions": "3",
  "relay-rate": "15.0 kB/s",
  "redis-status": "redis up",
};

describe("status page in headless Chromium", () => {
  test("without JavaScript (a plain fetch): the headline numbers are in the HTML, strings escaped", async () => {
    next = sequence(PAGE, JSON_);
    const html = await (await fetch(server.url)).text();
    next = sequence(JSON_);
    expect(numbers(html)).toEqual(PAGE_NUMBERS);
    expect(byId(html, "instance").text).toBe("page&quot;&gt;&lt;img src=x onerror=alert(1) id=pwned&gt;");
    expect(html).not.toContain("<img");
    expect(html).toContain("<td>evil&quot;&gt;&lt;img src=x onerror=alert(1) id=pwned&gt;</td>");
  });

  test("with JavaScript, /status.json failing: the server-rendered numbers stay, and the page says so", async () => {
    const dom = await chromium(["--dump-dom"], new Error("snapshot failed"));
    expect(numbers(dom)).toEqual(PAGE_NUMBERS);
    expect(byId(dom, "conn").text).toBe("cannot reach the server (HTTP 500), showing older numbers");
    expect(dom).toContain("waiting for status.json"); // the script ran
  }, 30_000);

  test("with JavaScript: /status.json's numbers replaced them, the chart has one bar per interval", async () => {
    const dom = await chromium(["--dump-dom"]);
    expect(numbers(dom)).toEqual({
      "clients-online": "11",
      "punch-success-rate": "87.2%", // 34 of 39
      "punches-started": "40",
      "punches-direct": "31",
      "punches-relay": "3",
      "punches-failed": "5",
      "relay-sessions": "4",
      "relay-rate": "15.0 kB/s",
      "redis-status": "redis down",
    });
    expect(byId(dom, "clients-online").value).toBe("11");
    expect(byId(dom, "punch-success-rate").value).toBe(String(34 / 39));
    expect(byId(dom, "instance").text).toBe("json\"&gt;&lt;img src=x onerror=alert(1) id=pwned&gt;");
    expect(dom).not.toContain("<img");
    expect(dom).not.toContain("chart needs JavaScript");
    expect(byId(dom, "updated").text).not.toBe("at page load");
    // 30 intervals: 29 filled in before the start plus the one sampled at start.
    expect(history.points().length).toBe(INTERVALS);
    expect(count(dom, /<rect class="bar"/g)).toBe(INTERVALS);
    // No success rate in intervals 5, 10, 15, 20, 25 (nothing finished).
    expect(count(dom, /<circle class="rate-pt"/g)).toBe(INTERVALS - 5);
    expect(/class="rate-line"[^>]*data-points="(\d+)"/.exec(dom)?.[1]).toBe(String(INTERVALS - 5));
    expect(/class="relay-line"[^>]*data-points="(\d+)"/.exec(dom)?.[1]).toBe(String(INTERVALS));
    // Top 5 drop reasons, largest first.
    const reasons = [...dom.matchAll(/<tr><td>([^<]*)<\/td>/g)].map((m) => m[1]);
    expect(reasons).toEqual(["rate_limited", "malformed", "not_ours", "amplification_guard", "relay_idle"]);
  }, 30_000);

  test("a 1280x900 screenshot is a real PNG of that size", async () => {
    rmSync(SCREENSHOT, { force: true });
    await chromium([`--screenshot=${SCREENSHOT}`, "--window-size=1280,900", "--hide-scrollbars"]);
    const png = readFileSync(SCREENSHOT);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 900]);
    expect(png.length).toBeGreaterThan(20_000); // a blank page is a few kB
  }, 30_000);
});
