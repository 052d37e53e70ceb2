// How to punch, from both NATs' mappings (ours from NAT discovery, the
// peer's from its Initiate), on top of plain simultaneous probing:
//
//   ours INDEPENDENT, peer DEPENDENT -> spray (birthday, easy side)
//   ours DEPENDENT, peer INDEPENDENT -> open-many (birthday, hard side)
//   peer SEQUENTIAL, ours not DEPENDENT -> predict the peer's next ports
//
// Anything else: probing alone (hard <-> hard pairs end on the relay). Pure.
import { MappingKind, type HolePunchInitiate } from "../gen/holepunch/v1/holepunch_pb.ts";
import type { BirthdayRole } from "./birthday.ts";

export interface Strategy {
  birthday?: BirthdayRole;
  predictStep?: number;
}

/** `extraSockets`: birthday punching needs them (without, easy <-> hard pairs use the relay). */
export function strategy(mine: MappingKind, init: HolePunchInitiate, extraSockets: boolean): Strategy {
  return {
    birthday: extraSockets ? birthdayRole(mine, init.peerMapping) : undefined,
    // A sequential peer's next ports are predictable (unless ours are random: then only the relay helps).
    predictStep: init.peerMapping === MappingKind.SEQUENTIAL && mine !== MappingKind.DEPENDENT ? init.peerPortStep : undefined,
  };
}

/** Easy (independent) <-> hard (dependent): the hard side opens many sockets, the easy side sprays. */
function birthdayRole(mine: MappingKind, peer: MappingKind): BirthdayRole | undefined {
  if (mine === MappingKind.DEPENDENT && peer === MappingKind.INDEPENDENT) return "open-many";
  if (mine === MappingKind.INDEPENDENT && peer === MappingKind.DEPENDENT) return "spray";
  return undefined;
}
