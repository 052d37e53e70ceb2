// What the registry hands out: a handle on one registration (its slot and
// the slot's generation), reading the fields from the SlotStore's columns
// when asked. Cheap to make (three fields), so lookups make a fresh one.
import type { Addr } from "../net/address.ts";
import type { SlotStore } from "./slot-store.ts";

/**
 * A handle on one registration, reading its slot's fields when asked (byte
 * fields as copies). Registering a name again replaces its registration
 * (a new handle); refreshes keep it. Reading a handle of a registration that
 * is gone throws: its slot may hold someone else's by then.
 */
export class Registration {
  constructor(
    private readonly store: SlotStore,
    readonly slot: number,
    readonly generation: number,
  ) {}

  /** Still registered (possibly expired, not yet removed). */
  get current(): boolean {
    return this.store.holds(this.slot, this.generation);
  }

  /** The same registration (not merely the same name): replaces `===` on the old objects. */
  is(other: Registration | undefined): boolean {
    return other !== undefined && other.store === this.store && other.slot === this.slot && other.generation === this.generation;
  }

  private get s(): number {
    if (!this.current) throw new Error("this registration is gone");
    return this.slot;
  }

  get name(): string {
    return this.store.nameOf(this.s);
  }
  /** The Ed25519 key the name is bound to while registered. */
  get publicKey(): Uint8Array {
    return this.store.publicKeyOf(this.s);
  }
  /** Authenticates this registration's later requests and its Initiates. */
  get secret(): Uint8Array {
    return this.store.secretOf(this.s);
  }
  get observed(): Addr {
    return this.store.observedOf(this.s);
  }
  get locals(): Addr[] {
    return this.store.localsOf(this.s);
  }
  get expiresAt(): number {
    return this.store.expires[this.s]!;
  }
  /** The client's NAT mapping as it last reported it (MappingKind; 0 = unknown). */
  get mapping(): number {
    return this.store.mapping[this.s]!;
  }
  set mapping(kind: number) {
    this.store.mapping[this.s] = kind;
  }
}
