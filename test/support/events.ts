// Collects client events and lets a test await one, never sleeping blindly.
import type { ClientEvent } from "../../src/client/client.ts";

export class EventLog {
  readonly events: ClientEvent[] = [];
  private waiters: Array<{ pred: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }> = [];

  push = (e: ClientEvent): void => {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
  };

  waitFor(pred: (e: ClientEvent) => boolean, ms = 10_000, what = "event"): Promise<ClientEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; saw ${JSON.stringify(this.events)}`)), ms);
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
  }

  waitEvent<K extends ClientEvent["event"]>(kind: K, ms?: number): Promise<Extract<ClientEvent, { event: K }>> {
    return this.waitFor((e) => e.event === kind, ms, kind) as Promise<Extract<ClientEvent, { event: K }>>;
  }

  waitMessage(text: string, ms?: number): Promise<ClientEvent> {
    return this.waitFor((e) => e.event === "message" && e.text === text, ms, `message ${JSON.stringify(text)}`);
  }
}
