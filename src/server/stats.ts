// Counters: what arrived, what was answered, and what was dropped and why.

/** Counters the STUN hot path bumps as plain fields (a Map update each costs more than the rest of the reply). */
const HOT = ["received", "sent", "sent_bytes", "stun_binding"] as const;
type Hot = (typeof HOT)[number];

export class Stats {
  readonly counters = new Map<string, number>();
  readonly dropped = new Map<string, number>();
  private readonly hot: Record<Hot, number> = { received: 0, sent: 0, sent_bytes: 0, stun_binding: 0 };

  /** One STUN Binding answered with `bytes` (the hot path). */
  stunBinding(bytes: number): void {
    this.hot.received++;
    this.hot.stun_binding++;
    this.hot.sent++;
    this.hot.sent_bytes += bytes;
  }

  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  drop(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
    this.count("dropped");
  }

  get(name: string): number {
    return (this.counters.get(name) ?? 0) + ((this.hot as Record<string, number>)[name] ?? 0);
  }

  droppedFor(reason: string): number {
    return this.dropped.get(reason) ?? 0;
  }

  snapshot(): Record<string, unknown> {
    const all = Object.fromEntries(this.counters);
    for (const k of HOT) if (this.hot[k]) all[k] = (all[k] ?? 0) + this.hot[k];
    return { ...all, dropped_by_reason: Object.fromEntries(this.dropped) };
  }
}
