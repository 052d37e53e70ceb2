// The client's logic, no I/O of its own: one ServerLink (register, keepalive,
// introductions, at the current one of the servers) and at most one PeerLink
// (punching, then the session). Push datagrams in with handle(); it sends
// through the injected function and reports what happens through onEvent.
import { PunchOutcome, type Envelope, type HolePunchInitiate } from "../gen/holepunch/v1/holepunch_pb.ts";
import { DEFAULT_CONNECT_TIMEOUT, INTRODUCTION_TTL, RELAY_REINTRODUCE_AFTER, second } from "../constants.ts";
import { equalBytes } from "../crypto/kdf.ts";
import { fingerprint, keyToText } from "../identity/keys.ts";
import type { Timer } from "../clock.ts";
import { DecodeError, ErrorCodes, type ErrorCode } from "../errors.ts";
import { silentLogger, withFields, type Logger } from "../log.ts";
import { formatAddr, type Addr } from "../net/address.ts";
import { classify, decodePacket, encodePacket, type Body } from "../protocol/packet.ts";
import { fromWireAddress } from "../protocol/wire-address.ts";
import { SOFTWARE } from "../version.ts";
import { isRelay, PeerLink, RELAY } from "./peer-link.ts";
import { SecondRegistration } from "./second-registration.ts";
import type { ClientOptions } from "./client-types.ts";
import type { Stream } from "../transport/index.ts";
import { ServerLink } from "./server-link.ts";
import { ServerList } from "./server-list.ts";
import { PunchReports, punchReportBody, requestIdOf } from "./punch-report.ts";
import { strategy, type Strategy } from "./strategy.ts";
import { unwrapRelayed, wrapForRelay } from "./relay-wrap.ts";
import { memoryTrust, refusedKey, type PeerTrust } from "./trust.ts";
import { memoryTokens, type AddressTokens } from "./address-tokens.ts";
import { randomTxid } from "./txid.ts";

export { memoryTrust, type PeerTrust } from "./trust.ts";
export type { ClientEvent, ClientOptions, ExtraSocketsIO } from "./client-types.ts";

const MAX_SEEN_TOKENS = 256;

export class HolePunchClient {
  readonly server: ServerLink;
  /** The rendezvous servers' addresses and the one in use. */
  readonly servers: ServerList;
  /** The registration of our address in the other family (IPv6 beside IPv4, or the reverse). */
  readonly second: SecondRegistration;
  link: PeerLink | undefined;
  /** Drops by reason, for diagnostics. */
  readonly dropped = new Map<string, number>();
  private readonly log: Logger;
  private readonly trust: PeerTrust;
  private pending: string[] = [];
  /** Tokens of attempts already started: a replayed old Initiate must not tear down the current session. */
  private readonly seenTokens = new Set<string>();
  /** Peer keys already refused (so a listener reports each once, not at every re-ask). */
  private readonly refusedKeys = new Set<string>();
  private deadline: Timer | undefined;
  private gotInitiate = false;
  private done = false;
  private readonly reports = new PunchReports();

  constructor(private readonly opts: ClientOptions) {
    this.log = opts.log ?? silentLogger;
    this.trust = opts.trust ?? memoryTrust();
    const servers = (this.servers = new ServerList(opts.server));
    this.server = new ServerLink(
      opts.clock,
      (body, txid, to) => opts.send(encodePacket(body, txid), to ?? servers.current),
      this.log,
      {
        registered: (observed, first, serverAddresses) => this.onRegistered(observed, first, serverAddresses),
        initiate: (init) => this.onInitiate(init),
        fatal: (code, message) => this.fail(code, message),
        dropped: (reason) => this.drop(reason),
        moved: () => this.onServerMoved(),
      },
      {
        servers,
        name: opts.name,
        identity: opts.identity,
        locals: opts.locals ?? [],
        software: SOFTWARE,
        token: opts.token,
        registerTimeoutMs: opts.registerTimeoutMs,
        stun: opts.stunServers?.length ? { servers: opts.stunServers, send: opts.send } : undefined,
        // Per server and identity: tokens are bound to the key they were issued for.
        addressToken: bindToken(opts.addressTokens ?? memoryTokens(), () => `${formatAddr(servers.current)} ${opts.identity.id}`),
      },
    );
    const own = { name: opts.name, identity: opts.identity, software: SOFTWARE, token: opts.token };
    // A session under way learns the new address through fresh Initiates (both sides get one).
    // Only while the attempt's introduction surely lives (a new token would supersede the session):
    // punching, or connected for less than half the introduction's lifetime (an IPv6 path may still win).
    const askAgain = () => {
      const link = this.link;
      const fresh = link && (link.state === "punching" || (link.state === "connected" && opts.clock.now() - link.startedAt < INTRODUCTION_TTL / 2));
      if (fresh) this.server.askAgain(link.opts.peerName);
    };
    this.second = new SecondRegistration(opts.clock, (body, txid, to) => opts.send(encodePacket(body, txid), to), this.log, own, askAgain);
  }

  get isConnected(): boolean {
    return this.link?.state === "connected";
  }

  /** Opens a reliable stream to the connected peer (its `onStream` decides on `label`); undefined when not connected. */
  openStream(label: string): Stream | undefined {
    return this.isConnected ? this.link!.session.transport?.open(label) : undefined;
  }

  /** Sends an unreliable datagram on `flow` to the connected peer; false when not sent. */
  sendDatagram(flow: number, data: Uint8Array): boolean {
    return (this.isConnected && this.link!.session.transport?.sendDatagram(flow, data)) || false;
  }

  start(): void {
    // Known peer: the introduction rides on the signed Register (one round trip less).
    if (this.opts.peer !== undefined) this.server.introduce(this.opts.peer);
    this.server.start();
  }

  /** One datagram from `from`. Never throws for bad input: drops and counts it. */
  handle(bytes: Uint8Array, from: Addr, via?: number): void {
    if (this.done) return;
    const kind = classify(bytes);
    if (kind === "stun") return void (this.server.onStun(bytes, from) || this.drop("stun_unexpected"));
    if (kind !== "hp") return this.drop("not_ours");
    let env: Envelope;
    try {
      env = decodePacket(bytes);
    } catch (e) {
      return this.drop(e instanceof DecodeError ? e.code.toLowerCase() : "malformed");
    }
    switch (env.body.case) {
      case "registerAck":
      case "keepaliveAck":
      case "holePunchResponseUnknown":
      case "holePunchInitiate":
      case "challenge":
      case "error":
        if (this.second.isFrom(from)) return this.second.handle(env);
        if (!this.servers.isCurrent(from)) return this.drop("server_message_from_elsewhere");
        return this.server.handle(env);
      case "natProbeAck":
        // From either server port (or its alternate IP); matched by txid, and it only informs our strategy.
        if (from.ip !== this.servers.current.ip && from.ip !== this.server.natAlt?.ip) return this.drop("server_message_from_elsewhere");
        return this.server.handle(env);
      case "relayData":
        if (!this.servers.isCurrent(from)) return this.drop("server_message_from_elsewhere");
        return this.fromRelay(env.body.value.token, env.body.value.payload);
      case "punchProbe":
      case "punchAck":
      case "sealed":
        if (!this.link || !equalBytes(env.body.value.token, this.link.token)) return this.drop("unknown_token");
        return this.link.handle(env, from, via);
      default:
        return this.drop("unexpected_type");
    }
  }

  /** A peer datagram that came through the server's relay. */
  private fromRelay(token: Uint8Array, payload: Uint8Array): void {
    if (this.opts.relay === false) return this.drop("relay_disabled"); // never use the relay, not even to answer
    if (!this.link || !equalBytes(token, this.link.token)) return this.drop("unknown_token");
    const inner = unwrapRelayed(token, payload);
    if (!inner) return this.drop("relay_bad_payload");
    this.link.handle(inner, RELAY);
  }

  /** Sends a peer datagram, through the relay when addressed to it. */
  private sendToPeer(body: Body, to: Addr, via?: number): void {
    if (via !== undefined) return this.opts.sockets?.send(via, encodePacket(body), to);
    if (!isRelay(to)) return this.opts.send(encodePacket(body), to);
    const secret = this.server.secret;
    if (secret && this.link) this.opts.send(wrapForRelay(this.link.token, secret, body), this.servers.current);
  }

  private describe(address: Addr): string {
    return isRelay(address) ? `relay:${formatAddr(this.servers.current)}` : formatAddr(address);
  }

  /** Sends a line to the peer; queued until a peer is connected. */
  sendLine(text: string): void {
    if (this.link && this.link.state !== "closed") this.link.sendLine(text);
    else this.pending.push(text);
  }

  /** Lines not yet acknowledged by the peer (queued or in flight). */
  get unacked(): number {
    return this.pending.length + (this.link?.state === "connected" ? this.link.unacked : 0);
  }

  close(reason = "closed"): void {
    if (this.done) return;
    this.done = true;
    this.deadline?.cancel();
    this.link?.close(reason);
    this.server.close();
    this.second.stop();
  }

  private onRegistered(observed: Addr, first: boolean, serverAddresses: Addr[]): void {
    const other = serverAddresses.find((a) => a.ip.includes(":") !== this.servers.current.ip.includes(":"));
    if (other && this.opts.otherFamily) this.second.start(other);
    if (first) {
      this.opts.onEvent({ event: "registered", name: this.opts.name, observed: formatAddr(observed) });
      if (this.opts.peer !== undefined) this.connectTo(this.opts.peer);
    } else {
      this.log.info("registered again", { observed: formatAddr(observed) });
    }
  }

  /** We register at the next server now. Sessions go on (a relayed one with its token: a cluster's instances share relay sessions; if it stays silent, relayDead re-introduces); a punch asks again at once. */
  private onServerMoved(): void {
    this.second.stop(); // it belonged to the old server; the new one's RegisterAck starts another
    const link = this.link;
    if (!link || link.state === "closed" || link.state === "connected") return;
    this.reintroduce(link.opts.peerName, "punching");
  }

  /** Ask for the same peer again: the Initiate repeats the token (the session goes on) or a new one supersedes the session. */
  private reintroduce(peer: string, why: string): void {
    if (this.server.introducing === peer) return; // already asking (an initiator still punching)
    this.log.info("asking the server to introduce us again", { peer, why });
    this.server.introduce(peer);
    if (this.opts.peer !== undefined) this.connectTo(this.opts.peer); // an initiator gives its budget to the new attempt
  }

  /** How an attempt ended, once per token, to the current server (twice, unanswered). */
  private report(token: Uint8Array, outcome: PunchOutcome): void {
    const r = this.reports.outcome(token, outcome, this.opts.clock.now());
    const secret = this.server.secret;
    if (r && secret) for (let i = 0; i < 2; i++) this.opts.send(encodePacket(punchReportBody(secret, r), randomTxid()), this.servers.current);
  }

  /** Registered: the connect budget starts (the introduction is already under way, see start()). */
  private connectTo(peer: string): void {
    const budget = this.opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT;
    this.deadline?.cancel();
    this.deadline = this.opts.clock.setTimer(budget, () => {
      if (this.isConnected) return;
      const secs = Math.round(budget / second);
      const relayTried = this.opts.relay !== false && this.link?.opts.relay === true;
      if (this.gotInitiate) this.fail("PUNCH_FAILED", `could not reach ${peer} within ${secs} s (${relayTried ? "directly or through the relay" : "directly; no relay"})`);
      else this.fail("PEER_UNKNOWN", `peer ${JSON.stringify(peer)} did not register within ${secs} s`);
    });
  }

  private onInitiate(init: HolePunchInitiate): void {
    if (this.opts.peer !== undefined && init.peerName !== this.opts.peer) {
      return this.log.warn("ignoring introduction to a peer we did not ask for", { peer: init.peerName });
    }
    if (!this.acceptPeerKey(init.peerName, init.peerKey)) return;
    this.reports.initiated(init.token, this.opts.clock.now());
    const current = this.link;
    const tokenKey = Buffer.from(init.token).toString("hex");
    if (current && current.state !== "closed" && equalBytes(current.token, init.token)) {
      // A repeat of the attempt in progress: it may know more candidates, or both NATs' mappings now.
      // Connected, it answers a re-introduction after a server move: this server relays our token now.
      if (current.state === "connected") this.server.stopIntroducing();
      current.addCandidates(init.candidates.map((c) => fromWireAddress(c.address!)));
      return current.updateStrategy(this.strategyFor(init));
    }
    if (this.seenTokens.has(tokenKey) && current?.state === "connected") return this.drop("initiate_replayed");
    if (this.seenTokens.size >= MAX_SEEN_TOKENS) this.seenTokens.delete(this.seenTokens.values().next().value!);
    this.seenTokens.add(tokenKey);
    if (current && current.state !== "closed") {
      if (current.opts.peerName !== init.peerName && current.state === "connected") {
        return this.log.warn("busy with another peer; ignoring introduction", { peer: init.peerName });
      }
      // The same peer started over (restarted, or its address changed), or,
      // for a listener still punching, someone else asked: take the newer.
      this.log.info(current.opts.peerName === init.peerName ? "peer started a new attempt" : "switching to a newer introduction", {
        peer: init.peerName,
        was: current.opts.peerName,
      });
      const wasConnected = current.state === "connected";
      this.link = undefined; // detach first: the old link's close is not this client's end
      current.close("superseded");
      if (wasConnected) {
        this.opts.onEvent({ event: "disconnected", peer: current.opts.peerName, reason: "peer started a new session", unacked: current.unacked });
      }
    }
    this.gotInitiate = true;
    this.startLink(init);
  }

  /** --peer-key pin, then known peers: a changed key is refused, never silently accepted. */
  private acceptPeerKey(peer: string, key: Uint8Array): boolean {
    const pin = this.opts.peer !== undefined && this.opts.peerKey ? { peer: this.opts.peer, key: this.opts.peerKey } : undefined;
    const message = refusedKey(this.trust, peer, key, pin);
    if (message === undefined) return true;
    const seen = `${peer} ${keyToText(key)}`;
    if (this.opts.peer !== undefined) this.fail("PEER_KEY_CHANGED", message);
    else if (!this.refusedKeys.has(seen)) {
      this.refusedKeys.add(seen);
      this.opts.onEvent({ event: "error", code: "PEER_KEY_CHANGED", message });
    }
    return false;
  }

  private startLink(init: HolePunchInitiate): void {
    const peer = init.peerName;
    const peerKey = init.peerKey;
    const link: PeerLink = new PeerLink(
      this.opts.clock,
      (body: Body, to: Addr, via?: number) => this.sendToPeer(body, to, via),
      withFields(this.log, { request_id: requestIdOf(init.token) }),
      {
        connected: (address, rtt, path) => {
          this.server.stopIntroducing();
          this.report(init.token, path === "relay" ? PunchOutcome.RELAY : PunchOutcome.DIRECT);
          if (this.trust.check(peer, peerKey) === "new") {
            this.log.info(`trusting ${peer}'s key on first use`, { key: keyToText(peerKey), fingerprint: fingerprint(peerKey) });
            this.trust.remember(peer, peerKey);
          }
          this.opts.onEvent({ event: "connected", peer, address: this.describe(address), path, rtt_ms: Math.round(rtt * 10) / 10 });
        },
        pathChanged: (address, path) => {
          this.opts.onEvent({ event: "path", peer, address: this.describe(address), path });
        },
        message: (text) => this.opts.onEvent({ event: "message", from: peer, text }),
        // It may come back (the peer moving to another instance of a cluster): re-introduce (superseding) only later.
        relayDead: () => void this.opts.clock.setTimer(RELAY_REINTRODUCE_AFTER, () => link.state === "connected" && link.path === "relay" && link.session.silent && this.link === link && this.reintroduce(peer, "relay silent")),
        closed: (reason, code, unacked, wasConnected) => this.onLinkClosed(link, peer, reason, code, unacked, wasConnected),
        dropped: (reason) => this.drop(reason),
      },
      {
        selfName: this.opts.name,
        peerName: peer,
        token: init.token,
        candidates: init.candidates.map((c) => fromWireAddress(c.address!)),
        identity: this.opts.identity,
        peerKey,
        punchTimeoutMs: this.opts.punchTimeoutMs,
        peerTimeoutMs: this.opts.peerTimeoutMs,
        rekey: this.opts.rekey,
        relay: init.relay && this.opts.relay !== false,
        ...this.strategyFor(init),
        sockets: this.opts.sockets,
        random: this.opts.random,
        relayAfterMs: this.opts.relayAfterMs,
        dualStack: this.opts.otherFamily,
        onStream: this.opts.onStream,
        onDatagram: this.opts.onDatagram,
      },
    );
    this.link = link;
    for (const line of this.pending.splice(0)) link.sendLine(line);
    link.start();
  }

  private onLinkClosed(
    link: PeerLink,
    peer: string,
    reason: string,
    code: "PUNCH_FAILED" | "PEER_LOST" | undefined,
    unacked: number,
    wasConnected: boolean,
  ): void {
    if (this.link !== link) return;
    // A listener asks for introductions only to recover a link after a server move.
    if (this.opts.peer === undefined) this.server.stopIntroducing();
    if (!wasConnected) {
      // An attempt that never connected: the initiator keeps asking (the same
      // or a fresh token) until its deadline; a listener waits for the next.
      if (code === "PUNCH_FAILED") {
        this.log.warn(reason);
        this.report(link.token, PunchOutcome.FAILED);
      }
      return;
    }
    this.opts.onEvent({ event: "disconnected", peer, reason, unacked });
    if (this.opts.peer !== undefined && !this.done) {
      if (code === "PEER_LOST") this.fail("PEER_LOST", reason);
      else this.finished(0);
    }
  }

  private finished(exitCode: number): void {
    this.close("done");
    this.opts.onDone?.(exitCode);
  }

  private fail(code: ErrorCode, message: string): void {
    if (this.done) return;
    // Giving up while still punching: that attempt failed (reported before the Unregister).
    if (code === "PUNCH_FAILED" && this.link?.state === "punching") this.report(this.link.token, PunchOutcome.FAILED);
    this.opts.onEvent({ event: "error", code, message });
    this.close(code);
    this.opts.onDone?.(ErrorCodes[code]);
  }

  /** How to punch, from both NATs' mappings (strategy.ts). */
  private strategyFor(init: HolePunchInitiate): Strategy {
    return strategy(this.server.mapping, init, this.opts.sockets !== undefined);
  }

  private drop(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }
}

/** The address-token store seen through one key: the current server's (tokens are per server and identity). */
function bindToken(store: AddressTokens, key: () => string) {
  return { get: () => store.get(key()), set: (t: Uint8Array | undefined) => store.set(key(), t) };
}
