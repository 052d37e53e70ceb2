// Introductions: both clients of a pair get an Initiate (candidates, key,
// token, how to punch) or the requester hears the peer is unknown; each
// introduction is a punch attempt with a request id, and the clients'
// PunchReports say how it ended. With a cluster, a peer held by another
// instance is introduced through the ClusterBridge. No I/O of its own.
import type { HolePunchInitiate, PunchReport } from "../gen/holepunch/v1/holepunch_pb.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { initiateAuth } from "../crypto/server-auth.ts";
import type { Addr } from "../net/address.ts";
import type { Body } from "../protocol/packet.ts";
import { ClusterBridge, type ServerParts } from "./cluster-bridge.ts";
import type { ClusterPort } from "./cluster-port.ts";
import { candidatesOf, Introductions, type PeerInfo } from "./introductions.ts";
import { unpackMapping } from "./mapping.ts";
import { PunchTracker } from "./punch-tracker.ts";
import type { Registration } from "./registry.ts";
import type { PunchTotals } from "../ops/snapshot.ts";

export interface IntroducerDeps extends ServerParts {
  /** Sends to a registered (verified) client: no anti-amplification bound. */
  sendVerified(to: Addr, txid: bigint, body: Body): boolean;
  cluster?: ClusterPort;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export class Introducer {
  private readonly intros = new Introductions();
  private readonly punches = new PunchTracker();
  readonly cluster: ClusterBridge | undefined;

  constructor(private readonly d: IntroducerDeps) {
    this.cluster =
      d.cluster &&
      new ClusterBridge(d.cluster, {
        ...d,
        sendInitiate: (to, peer, token, initiator, txid) => this.sendInitiate(to, peer, token, initiator, txid),
        sendUnknown: (to, txid, target) => this.sendUnknown(to, txid, target),
        peerInfo: (reg) => this.peerInfo(reg),
        sendRelay: (to, token, payload) => d.sendVerified(to, 0n, { case: "relayData", value: { $typeName: "holepunch.v1.RelayData", token, secret: new Uint8Array(), payload } }),
        punchStarted: (token, counts) => this.punchStarted(token, counts),
      });
  }

  /** Introduces `requester` (registered, at `from`) to `targetName` (a valid name). */
  introduce(requester: Registration, targetName: string, txid: bigint, from: Addr, now: number): void {
    const d = this.d;
    const target = d.registry.lookup(targetName, now);
    if (!target && this.cluster && targetName !== requester.name) return void this.cluster.introduce(requester, targetName, txid, from);
    if (!target || target.is(requester)) {
      d.stats.count("punch_unknown");
      return this.sendUnknown(from, txid, targetName);
    }
    const token = this.intros.token(requester, target, now, d.randomBytes);
    d.relays?.open(hex(token), requester.name, target.name, now);
    d.stats.count("punch_initiated");
    const { requestId, fresh } = this.punchStarted(token, true);
    if (fresh) d.log.info("introducing", { request_id: requestId, from: requester.name, to: target.name });
    this.sendInitiate(requester, this.peerInfo(target), token, true, txid);
    this.sendInitiate(target, this.peerInfo(requester), token, false, 0n);
  }

  /** How an introduction ended, as one of its clients saw it: counted once per token, where the punch started. */
  report(r: PunchReport, from: Addr, now: number): void {
    const d = this.d;
    const sender = d.registry.byAddress(from, now);
    if (!sender || !equalBytes(sender.secret, r.secret)) return d.stats.drop("punch_report_not_registered");
    const v = this.punches.report(hex(r.token), r.outcome, r.elapsedMs);
    d.stats.count(`punch_report_${v.kind}`);
    if (v.kind !== "counted") return;
    d.stats.count(`punch_${v.outcome}`);
    d.log.info("punch result", { request_id: v.requestId, name: sender.name, outcome: v.outcome, elapsed_ms: v.elapsedMs });
  }

  /** Punch attempts this instance started, and how those reported ended. */
  get totals(): PunchTotals {
    const c = (k: string) => this.d.stats.get(k);
    return { started: c("punch_started"), direct: c("punch_direct"), relay: c("punch_relay"), failed: c("punch_failed") };
  }

  sweep(now: number): void {
    this.intros.sweep(now);
    this.punches.sweep(now);
    this.cluster?.flush(now);
  }

  private peerInfo(reg: Registration): PeerInfo {
    return { name: reg.name, publicKey: reg.publicKey, candidates: candidatesOf(reg, this.d.seconds.get(reg, this.d.now())), mapping: reg.mapping };
  }

  private punchStarted(token: Uint8Array, counts: boolean): { requestId: string; fresh: boolean } {
    const v = this.punches.started(hex(token), token, this.d.now(), counts);
    if (v.fresh && counts) this.d.stats.count("punch_started");
    return v;
  }

  private sendUnknown(to: Addr, txid: bigint, target: string): void {
    this.d.sendVerified(to, txid, { case: "holePunchResponseUnknown", value: { $typeName: "holepunch.v1.HolePunchResponseUnknown", target } });
  }

  private sendInitiate(to: Registration, peer: PeerInfo, token: Uint8Array, initiator: boolean, txid: bigint): void {
    const fields: Omit<HolePunchInitiate, "$typeName" | "auth"> = {
      peerName: peer.name,
      candidates: peer.candidates,
      token,
      initiator,
      peerKey: peer.publicKey,
      relay: this.d.relays !== undefined,
      peerMapping: unpackMapping(peer.mapping).kind,
      peerPortStep: unpackMapping(peer.mapping).step,
    };
    this.d.sendVerified(to.observed, txid, { case: "holePunchInitiate", value: { $typeName: "holepunch.v1.HolePunchInitiate", ...fields, auth: initiateAuth(to.secret, fields) } });
  }
}
