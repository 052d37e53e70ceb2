// The Lua scripts that make each cluster update atomic in Redis, and a runner
// that sends a script's SHA1 (EVALSHA) and its text only when Redis has not
// seen it yet (NOSCRIPT, e.g. after a Redis restart).
//
// Keys (one Redis, or one hash slot: the names carry no {hash tag}, so Redis
// Cluster is not supported):
//   hp:reg:<name>         hash  key=<public key hex> inst=<instance> rec=<ClusterRecord, base64>; PEXPIRE = registration TTL
//   hp:inst:<id>:regs     zset  name -> expiry (ms since the epoch): what a restarted instance takes back
//   hp:intro:<a>\n<b>     string "<where>|<token hex>"; PX = introduction TTL
//   channel hp:inst:<id>  ClusterMessage (base64) for that instance
import type { RedisClient } from "bun";
import { createHash } from "node:crypto";

export const KEY_PREFIX = "hp:";
export const regKey = (name: string) => `${KEY_PREFIX}reg:${name}`;
export const instanceRegsKey = (instance: string) => `${KEY_PREFIX}inst:${instance}:regs`;
export const introKey = (pair: string) => `${KEY_PREFIX}intro:${pair}`;
export const instanceChannel = (instance: string) => `${KEY_PREFIX}inst:${instance}`;

/** KEYS: reg, instance regs. ARGV: key hex, instance, record, ttl ms, name, expiry ms. Returns {1, previous instance} or {0, holder}. */
export const CLAIM = `
local k = redis.call('HGET', KEYS[1], 'key')
local old = redis.call('HGET', KEYS[1], 'inst') or ''
if k and k ~= ARGV[1] then return {0, old} end
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'inst', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
return {1, old}`;

/** Like CLAIM, but only while this instance still holds it (or nobody does): a refresh never takes a name back from an instance it moved to. */
export const REFRESH = `
local k = redis.call('HGET', KEYS[1], 'key')
local old = redis.call('HGET', KEYS[1], 'inst') or ''
if k and (k ~= ARGV[1] or old ~= ARGV[2]) then return {0, old} end
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'inst', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
return {1, old}`;

/** KEYS: reg, instance regs. ARGV: key hex, instance, name. Deletes the registration if this instance holds it with this key. */
export const RELEASE = `
if redis.call('HGET', KEYS[1], 'key') == ARGV[1] and redis.call('HGET', KEYS[1], 'inst') == ARGV[2] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[3])
return 1`;

/** KEYS: intro. ARGV: where, fresh token hex, ttl ms. Returns the pair's live token for `where`, else stores and returns the fresh one. */
export const INTRO_TOKEN = `
local v = redis.call('GET', KEYS[1])
if v then
  local w, t = string.match(v, '^(.*)|(%x+)$')
  if w == ARGV[1] then return t end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return ARGV[2]`;

export class Scripts {
  private readonly shas = new Map<string, string>();

  constructor(private readonly client: RedisClient) {}

  async run(script: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(script);
    if (!sha) this.shas.set(script, (sha = createHash("sha1").update(script).digest("hex")));
    try {
      return await this.client.send("EVALSHA", [sha, String(keys.length), ...keys, ...args]);
    } catch (e) {
      if (!String((e as Error).message).startsWith("NOSCRIPT")) throw e;
      return await this.client.send("EVAL", [script, String(keys.length), ...keys, ...args]);
    }
  }
}
