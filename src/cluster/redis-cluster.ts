// ClusterPort over Redis (hp-server --redis): registrations in hashes with
// TTLs, instance-to-instance messages on pub/sub channels (one per instance).
// Two connections: commands, and the subscription (a subscribed Redis
// connection takes no other commands). Redis down: claims succeed locally,
// lookups find nothing, messages are not sent; when it is back the Rendezvous
// writes its registrations again (reconnected()).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ClusterMessageSchema, ClusterRecordSchema, type ClusterRecord } from "../gen/holepunch/v1/cluster_pb.ts";
import type { Logger } from "../log.ts";
import type { ClaimResult, ClusterBody, ClusterPort } from "../server/cluster-port.ts";
import { RedisLink } from "./redis-link.ts";
import { CLAIM, INTRO_TOKEN, REFRESH, RELEASE, Scripts, instanceChannel, instanceRegsKey, introKey, regKey } from "./scripts.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

export interface RedisClusterOptions {
  url: string;
  instance: string;
  log: Logger;
  /** Wall clock (ms since the epoch) for the restore index's expiry times. */
  wallNow?: () => number;
}

type Handlers = Parameters<ClusterPort["listen"]>[0];

export class RedisCluster implements ClusterPort {
  readonly instance: string;
  private readonly cmd: RedisLink;
  private readonly sub: RedisLink;
  private readonly scripts: Scripts;
  private readonly log: Logger;
  private readonly wallNow: () => number;
  private handlers: Handlers | undefined;
  /** Malformed messages or records seen (counted, dropped). */
  malformed = 0;

  constructor(opts: RedisClusterOptions) {
    this.instance = opts.instance;
    this.log = opts.log;
    this.wallNow = opts.wallNow ?? Date.now;
    this.cmd = new RedisLink(opts.url, "commands", opts.log, () => this.back(), () => {});
    this.sub = new RedisLink(opts.url, "subscription", opts.log, () => void this.subscribe(), () => {});
    this.scripts = new Scripts(this.cmd.client);
  }

  /** Connects both links (or starts retrying in the background: the server runs without Redis meanwhile). */
  async start(): Promise<void> {
    await Promise.all([this.cmd.start(), this.sub.start()]);
    if (this.up) this.log.info("cluster: connected to redis", { instance: this.instance });
  }

  get up(): boolean {
    return this.cmd.up && this.sub.up;
  }

  listen(handlers: Handlers): void {
    this.handlers = handlers;
  }

  claim(name: string, record: ClusterRecord, ttlMs: number): Promise<ClaimResult> {
    return this.write(CLAIM, name, record, ttlMs);
  }

  refresh(name: string, record: ClusterRecord, ttlMs: number): Promise<ClaimResult> {
    return this.write(REFRESH, name, record, ttlMs);
  }

  private async write(script: string, name: string, record: ClusterRecord, ttlMs: number): Promise<ClaimResult> {
    if (!this.cmd.up) return { ok: true };
    const keys = [regKey(name), instanceRegsKey(this.instance)];
    const args = [hex(record.publicKey), this.instance, b64(toBinary(ClusterRecordSchema, record)), String(Math.ceil(ttlMs)), name, String(this.wallNow() + ttlMs)];
    try {
      const [ok, other] = (await this.scripts.run(script, keys, args)) as [number, string];
      if (ok === 0) return { ok: false, holder: other };
      return other && other !== this.instance ? { ok: true, previous: other } : { ok: true };
    } catch (e) {
      this.log.debug("cluster: claim failed (redis down?)", { name, error: (e as Error).message });
      return { ok: true };
    }
  }

  async lookup(name: string): Promise<ClusterRecord | undefined> {
    if (!this.cmd.up) return undefined;
    try {
      const rec = (await this.cmd.client.send("HGET", [regKey(name), "rec"])) as string | null;
      return rec === null ? undefined : this.decodeRecord(rec);
    } catch {
      return undefined;
    }
  }

  release(name: string, publicKey: Uint8Array): void {
    if (!this.cmd.up) return;
    this.scripts.run(RELEASE, [regKey(name), instanceRegsKey(this.instance)], [hex(publicKey), this.instance, name]).catch(() => {});
  }

  async introToken(pair: string, where: string, fresh: Uint8Array, ttlMs: number): Promise<Uint8Array> {
    if (!this.cmd.up) return fresh;
    try {
      const t = (await this.scripts.run(INTRO_TOKEN, [introKey(pair)], [where, hex(fresh), String(ttlMs)])) as string;
      return t.length === fresh.length * 2 ? new Uint8Array(Buffer.from(t, "hex")) : fresh;
    } catch {
      return fresh;
    }
  }

  async tell(instance: string, body: ClusterBody): Promise<boolean> {
    if (!this.cmd.up) return false;
    const msg = b64(toBinary(ClusterMessageSchema, create(ClusterMessageSchema, { fromInstance: this.instance, body })));
    try {
      return (await this.cmd.client.publish(instanceChannel(instance), msg)) > 0;
    } catch {
      return false;
    }
  }

  async restore(): Promise<Array<{ name: string; record: ClusterRecord }>> {
    if (!this.cmd.up) return [];
    const key = instanceRegsKey(this.instance);
    await this.cmd.client.send("ZREMRANGEBYSCORE", [key, "-inf", String(this.wallNow())]);
    const names = (await this.cmd.client.send("ZRANGE", [key, "0", "-1"])) as string[];
    const recs = await Promise.all(names.map((n) => this.cmd.client.send("HGET", [regKey(n), "rec"]) as Promise<string | null>));
    const out: Array<{ name: string; record: ClusterRecord }> = [];
    names.forEach((name, i) => {
      const record = recs[i] ? this.decodeRecord(recs[i]!) : undefined;
      if (record && record.instance === this.instance) out.push({ name, record });
    });
    return out;
  }

  close(): void {
    this.cmd.close();
    this.sub.close();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.sub.client.subscribe(instanceChannel(this.instance), (m) => this.onMessage(m));
    } catch (e) {
      this.log.warn("cluster: cannot subscribe", { error: (e as Error).message });
      return;
    }
    if (this.cmd.up) this.back();
  }

  /** Both links up again after an outage (or for the first time): the Rendezvous rewrites its registrations. */
  private back(): void {
    if (!this.up) return;
    this.handlers?.reconnected();
  }

  private onMessage(text: string): void {
    let msg;
    try {
      msg = fromBinary(ClusterMessageSchema, unb64(text));
    } catch {
      msg = undefined;
    }
    if (!msg || msg.body.case === undefined || msg.fromInstance === this.instance) {
      if (!msg || msg.body.case === undefined) this.malformed++;
      return;
    }
    this.handlers?.message(msg.fromInstance, msg.body);
  }

  private decodeRecord(text: string): ClusterRecord | undefined {
    try {
      const r = fromBinary(ClusterRecordSchema, unb64(text));
      if (r.publicKey.length === 32 && r.observed && r.secret.length > 0) return r;
    } catch {}
    this.malformed++;
    return undefined;
  }
}
