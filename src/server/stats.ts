// Counters: what arrived, what was answered, and what was dropped and why.

export class Stats {
  readonly counters = new Map<string, number>();
  readonly dropped = new Map<string, number>();

  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  drop(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
    this.count("dropped");
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  droppedFor(reason: string): number {
    return this.dropped.get(reason) ?? 0;
  }

  snapshot(): Record<string, unknown> {
    return { ...Object.fromEntries(this.counters), dropped_by_reason: Object.fromEntries(this.dropped) };
  }
}
