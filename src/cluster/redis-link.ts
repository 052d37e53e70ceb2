// One Redis connection that comes back by itself: Bun's client gives up after
// its retries, so this one reconnects forever with a capped backoff, fails
// commands at once while Redis is down (no offline queue: a rendezvous answer
// must not wait for Redis), and reports down/up transitions once each.
import { RedisClient } from "bun";
import { second } from "../constants.ts";
import type { Logger } from "../log.ts";

/** First wait before reconnecting, doubled up to RECONNECT_MAX. */
export const RECONNECT_MIN = 250;
export const RECONNECT_MAX = 5 * second;
/** A connection attempt gives up after this long. */
export const CONNECT_TIMEOUT = 2 * second;

export class RedisLink {
  readonly client: RedisClient;
  private wait = RECONNECT_MIN;
  private timer: Timer | undefined;
  private closed = false;
  private wasUp = false;
  /** This outage (or the first failed start) has been logged. */
  private warned = false;

  constructor(
    url: string,
    private readonly role: string,
    private readonly log: Logger,
    private readonly onUp: () => void,
    private readonly onDown: () => void,
  ) {
    this.client = new RedisClient(url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: CONNECT_TIMEOUT });
    this.client.onclose = (e) => this.lost(e);
  }

  get up(): boolean {
    return this.client.connected;
  }

  /** Connects; resolves when connected or after the first failed attempt (then retries in the background). */
  async start(): Promise<void> {
    await this.attempt();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.client.close();
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    try {
      await this.client.connect();
    } catch (e) {
      if (!this.warned) this.log.warn("redis unreachable: serving this instance's clients only until it is back", { role: this.role, error: (e as Error).message });
      this.warned = true;
      return this.retry();
    }
    if (this.closed) return this.client.close();
    if (this.warned) this.log.info("redis is back", { role: this.role });
    this.wait = RECONNECT_MIN;
    this.warned = false;
    this.wasUp = true;
    this.onUp();
  }

  private lost(e: Error | undefined): void {
    if (this.closed) return;
    if (this.wasUp) {
      this.wasUp = false;
      if (!this.warned) this.log.warn("lost redis: serving this instance's clients only until it is back", { role: this.role, error: e?.message });
      this.warned = true;
      this.onDown();
    }
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.timer !== undefined) return;
    const wait = this.wait;
    this.wait = Math.min(this.wait * 2, RECONNECT_MAX);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, wait);
  }
}
