// The Rendezvous side of a cluster (hp-server --redis): it writes this
// instance's registrations to the shared store, introduces local clients to
// clients of other instances, carries relayed datagrams between instances, and
// answers what other instances tell it. No I/O of its own: the ClusterPort
// does the talking, the host (the Rendezvous) the sending to clients.
//
// Who sends what: a client's Initiates and relayed datagrams always leave from
// the instance it registered at (the socket its NAT has a mapping for). So an
// introduction asked at X for a client of Y sends the requester's Initiate
// from X and asks Y (ClusterIntroduce) to send the target's; relayed
// datagrams are checked and charged by the sender's instance and handed to
// the receiver's (ClusterRelay).
import { create } from "@bufbuild/protobuf";
import { ClusterRecordSchema, type ClusterRecord } from "../gen/holepunch/v1/cluster_pb.ts";
import { INTRODUCTION_TTL, MAX_RELAY_SESSIONS, RELAY_IDLE, TOKEN_BYTES } from "../constants.ts";
import { equalBytes } from "../crypto/kdf.ts";
import type { Addr } from "../net/address.ts";
import { fromWireAddress, toWireAddress } from "../protocol/wire-address.ts";
import type { Logger } from "../log.ts";
import type { ClusterBody, ClusterPort } from "./cluster-port.ts";
import { candidatesOf, pairOf, type PeerInfo } from "./introductions.ts";
import { packMapping, unpackMapping } from "./mapping.ts";
import type { RelayTable } from "./relay.ts";
import type { Registration, Registry } from "./registry.ts";
import type { SecondAddresses } from "./second-addresses.ts";
import type { Stats } from "./stats.ts";

/** The parts of a Rendezvous its helpers (Introducer, ClusterBridge) share. */
export interface ServerParts {
  registry: Registry;
  seconds: SecondAddresses;
  relays: RelayTable | undefined;
  stats: Stats;
  log: Logger;
  now(): number;
  randomBytes(n: number): Uint8Array;
}

/** What the bridge needs from its Rendezvous. */
export interface BridgeHost extends ServerParts {
  sendInitiate(to: Registration, peer: PeerInfo, token: Uint8Array, initiator: boolean, txid: bigint, requestId: string): void;
  sendUnknown(to: Addr, txid: bigint, target: string): void;
  /** What an Initiate tells about a local registration. */
  peerInfo(reg: Registration): PeerInfo;
  sendRelay(to: Addr, token: Uint8Array, payload: Uint8Array): boolean;
  /** An introduction: its request id (punch tracking: `counts` where the requester is). */
  punchStarted(token: Uint8Array, counts: boolean): { requestId: string; fresh: boolean };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export class ClusterBridge {
  /** Registrations to write at the next flush (refreshed, or their NAT mapping changed). */
  private readonly dirty = new Set<string>();
  /** Relay token (hex) -> the instance of the other member, for relay sessions that cross instances. */
  private readonly remoteRelays = new Map<string, { instance: string; lastUsed: number }>();

  constructor(
    readonly port: ClusterPort,
    private readonly host: BridgeHost,
  ) {
    port.listen({
      message: (from, body) => this.onMessage(from, body),
      reconnected: () => this.rewriteAll(),
    });
  }

  /** A main registration was accepted locally: make it the cluster's. False: another key holds the name elsewhere. */
  async claim(reg: Registration): Promise<boolean> {
    const name = reg.name;
    const res = await this.port.claim(name, this.recordOf(reg), this.host.registry.ttlMs);
    if (!res.ok) {
      this.host.stats.count("cluster_claim_taken");
      return false;
    }
    if (res.previous) {
      // It moved here: the old instance must stop answering for it.
      this.host.stats.count("cluster_moved_in");
      void this.send(res.previous, { case: "forget", value: { $typeName: "holepunch.v1.ClusterForget", name, publicKey: reg.publicKey } });
    }
    return true;
  }

  /** The registration was refreshed or changed: rewrite it (and its TTL) at the next flush. */
  touch(name: string): void {
    this.dirty.add(name);
  }

  release(name: string, publicKey: Uint8Array): void {
    this.dirty.delete(name);
    this.port.release(name, publicKey);
  }

  /** Writes the dirty registrations; forgets idle cross-instance relay sessions. Called by the sweep (each second). */
  flush(now: number): void {
    for (const name of this.dirty) {
      const reg = this.host.registry.lookup(name, now);
      if (reg) void this.rewrite(reg);
    }
    this.dirty.clear();
    for (const [k, r] of this.remoteRelays) {
      if (now - r.lastUsed <= RELAY_IDLE) break;
      this.remoteRelays.delete(k);
    }
  }

  private async rewrite(reg: Registration): Promise<void> {
    const name = reg.name;
    const key = reg.publicKey;
    const res = await this.port.refresh(name, this.recordOf(reg), this.host.registry.ttlMs);
    if (res.ok || !reg.current) return;
    // Registered elsewhere since (or taken by another key while Redis was away): not ours any more.
    this.host.registry.forget(name, key);
    this.host.seconds.delete(name);
    this.host.stats.count("cluster_moved_out");
    this.host.log.info("registered at another instance now: forgetting it here", { name, instance: res.holder });
  }

  /** Takes back the registrations Redis holds for this instance (after a restart); returns how many. */
  async restore(): Promise<number> {
    const now = this.host.now();
    let n = 0;
    for (const { name, record } of await this.port.restore()) {
      const r = this.host.registry.register(name, record.publicKey, record.secret, fromWireAddress(record.observed!), record.locals.map(fromWireAddress), now);
      if (!r.ok) continue;
      r.reg.mapping = packMapping(record.mapping, record.portStep);
      if (record.second) this.host.seconds.set(name, fromWireAddress(record.second), record.secret, now);
      n++;
    }
    return n;
  }

  /** Introduces local `requester` to `targetName`, which this instance does not hold: ask the cluster. */
  async introduce(requester: Registration, targetName: string, txid: bigint, from: Addr): Promise<void> {
    const h = this.host;
    const rec = await this.port.lookup(targetName);
    if (!requester.current) return;
    if (!rec || rec.instance === this.port.instance || equalBytes(rec.publicKey, requester.publicKey)) {
      h.stats.count("punch_unknown");
      return h.sendUnknown(from, txid, targetName);
    }
    const target = { name: targetName, observed: fromWireAddress(rec.observed!) };
    const { key, where } = pairOf(requester, target);
    const token = await this.port.introToken(key, where, h.randomBytes(TOKEN_BYTES), INTRODUCTION_TTL);
    if (!requester.current) return;
    const mine = h.peerInfo(requester);
    const delivered = await this.send(rec.instance, {
      case: "introduce",
      value: {
        $typeName: "holepunch.v1.ClusterIntroduce",
        target: targetName,
        peerName: requester.name,
        peerKey: mine.publicKey,
        peerCandidates: mine.candidates,
        peerMapping: unpackMapping(mine.mapping).kind,
        peerPortStep: unpackMapping(mine.mapping).step,
        token,
        relay: h.relays !== undefined,
      },
    });
    if (!requester.current) return;
    if (!delivered) {
      // Its instance is gone (its clients are moving to others): unknown for now.
      h.stats.count("punch_unknown");
      h.stats.count("cluster_instance_gone");
      return h.sendUnknown(from, txid, targetName);
    }
    const { requestId, fresh } = h.punchStarted(token, true);
    this.openRelay(token, requester.name, targetName, rec.instance);
    h.stats.count("punch_initiated");
    if (fresh) h.log.info("introducing", { request_id: requestId, from: requester.name, to: targetName, to_instance: rec.instance });
    const peer: PeerInfo = {
      name: targetName,
      publicKey: rec.publicKey,
      candidates: candidatesOf({ observed: target.observed, locals: rec.locals.map(fromWireAddress) }, rec.second ? fromWireAddress(rec.second) : undefined),
      mapping: packMapping(rec.mapping, rec.portStep),
    };
    h.sendInitiate(requester, peer, token, true, txid, requestId);
  }

  /** A relayed datagram from local `sender` whose peer is not here: hand it to the peer's instance. False: no such session. */
  relay(token: Uint8Array, sender: string, to: string, payload: Uint8Array): boolean {
    const r = this.remoteRelays.get(hex(token));
    if (!r) return false;
    r.lastUsed = this.host.now();
    void this.send(r.instance, { case: "relay", value: { $typeName: "holepunch.v1.ClusterRelay", token, from: sender, to, payload } });
    return true;
  }

  private onMessage(from: string, body: ClusterBody): void {
    const h = this.host;
    h.stats.count(`cluster_received_${body.case}`);
    const now = h.now();
    switch (body.case) {
      case "introduce": {
        const m = body.value;
        const target = h.registry.lookup(m.target, now);
        if (!target || m.token.length !== TOKEN_BYTES || m.peerKey.length !== 32 || m.peerCandidates.length === 0) return h.stats.drop("cluster_introduce_unusable");
        const { requestId } = h.punchStarted(m.token, false);
        this.openRelay(m.token, target.name, m.peerName, from);
        h.log.info("introducing", { request_id: requestId, from: m.peerName, from_instance: from, to: target.name });
        const peer: PeerInfo = { name: m.peerName, publicKey: m.peerKey, candidates: m.peerCandidates, mapping: packMapping(m.peerMapping, m.peerPortStep) };
        return h.sendInitiate(target, peer, m.token, false, 0n, requestId);
      }
      case "relay": {
        const m = body.value;
        const to = h.registry.lookup(m.to, now);
        const member = h.relays?.peerOf(hex(m.token), m.to, now);
        if (!to || !member?.ok || member.to !== m.from) return h.stats.drop("cluster_relay_unusable");
        if (h.sendRelay(to.observed, m.token, m.payload)) h.stats.count("relay_bytes", m.payload.length);
        return;
      }
      case "forget": {
        const m = body.value;
        if (h.registry.forget(m.name, m.publicKey)) {
          this.dirty.delete(m.name);
          h.seconds.delete(m.name);
          h.stats.count("cluster_moved_out");
          h.log.info("moved to another instance", { name: m.name, instance: from });
        }
        return;
      }
    }
  }

  private openRelay(token: Uint8Array, local: string, remote: string, instance: string): void {
    if (!this.host.relays) return;
    const k = hex(token);
    this.host.relays.open(k, local, remote, this.host.now());
    if (this.remoteRelays.size >= MAX_RELAY_SESSIONS && !this.remoteRelays.has(k)) {
      const oldest = this.remoteRelays.keys().next();
      if (!oldest.done) this.remoteRelays.delete(oldest.value);
    }
    this.remoteRelays.delete(k);
    this.remoteRelays.set(k, { instance, lastUsed: this.host.now() });
  }

  private async send(instance: string, body: ClusterBody): Promise<boolean> {
    const ok = await this.port.tell(instance, body);
    this.host.stats.count(ok ? `cluster_sent_${body.case}` : "cluster_send_failed");
    return ok;
  }

  /** Redis is back (or restarted empty): write every registration again. */
  private rewriteAll(): void {
    const now = this.host.now();
    let n = 0;
    for (const reg of this.host.registry.entries()) {
      if (reg.expiresAt <= now) continue;
      this.dirty.add(reg.name);
      n++;
    }
    if (n > 0) this.host.log.info("cluster: writing this instance's registrations to redis", { registrations: n });
  }

  private recordOf(reg: Registration): ClusterRecord {
    const m = unpackMapping(reg.mapping);
    const second = this.host.seconds.get(reg, this.host.now());
    return create(ClusterRecordSchema, {
      publicKey: reg.publicKey,
      observed: toWireAddress(reg.observed),
      locals: reg.locals.map(toWireAddress),
      second: second ? toWireAddress(second) : undefined,
      mapping: m.kind,
      portStep: m.step,
      secret: reg.secret,
      instance: this.port.instance,
    });
  }
}
