/**
 * Names of everything mychatd keeps in Redis, and the Lua scripts that change nickname entries atomically.
 * One place, so the layout can be read (and changed) at a glance:
 *
 * - `mychat:hb:<instance>`: a node's heartbeat, set with a lease (PX) and renewed every lease/3; a node whose
 *   heartbeat is gone is dead, and its nicknames are free.
 * - `mychat:nodes`: the set of node instances, so every node can check the others' heartbeats.
 * - `mychat:nick:<look key>`: who holds a nickname, one entry per look-alike key of it (the same lookKeys the
 *   local registry uses), so a look-alike clashes cluster-wide: `u<TAB>instance<TAB>session<TAB>nick` for a
 *   user, or `h<TAB>address<TAB><TAB>nick` with a TTL for a nickname held after an abrupt disconnect.
 * - `mychat:nicks:<instance>`: the look keys a node has claimed, so a dead node's entries can be removed.
 * - `mychat:topic:<room key>`: a room's topic (hash: text, by, at, and v, a version counting its changes), so
 *   a node that gets its first member of a room shows the cluster's topic; it expires TOPIC_TTL_MS after it
 *   was last set, read or renewed (each node renews its rooms' topics, see TOPIC_RENEW_MS).
 * - channels `mychat:room:<room key>` (room lines), `mychat:presence` (who is where), `mychat:node:<instance>`
 *   (private messages and requests to one node).
 */
export const KEYS = {
  heartbeat: (instance: string): string => `mychat:hb:${instance}`,
  heartbeatPrefix: 'mychat:hb:',
  nodes: 'mychat:nodes',
  nick: (lookKey: string): string => `mychat:nick:${lookKey}`,
  nicksOf: (instance: string): string => `mychat:nicks:${instance}`,
  topic: (roomKey: string): string => `mychat:topic:${roomKey}`,
  roomChannel: (roomKey: string): string => `mychat:room:${roomKey}`,
  roomChannelPrefix: 'mychat:room:',
  presenceChannel: 'mychat:presence',
  nodeChannel: (instance: string): string => `mychat:node:${instance}`,
};

/**
 * Claims a nickname: KEYS are its look-key entries; ARGV instance, session id, nick, address block,
 * heartbeat prefix, the node's key set. Refuses (IN_USE with the holder's nick) when an entry belongs to
 * another session of a live node, or (HELD with nick and ms left) when it is held for another address;
 * entries of dead nodes are taken over. All or nothing: Redis runs the script atomically.
 */
export const CLAIM_SCRIPT = `
local inst, sid, nick, addr, hbp, setk = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local kind, a, b, n = string.match(v, '^(%a)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$')
    if kind == 'u' then
      if not (a == inst and b == sid) and redis.call('EXISTS', hbp .. a) == 1 then
        return {'IN_USE', n}
      end
    elseif kind == 'h' then
      if a ~= addr then
        return {'HELD', n, tostring(redis.call('PTTL', KEYS[i]))}
      end
    end
  end
end
local value = 'u\\t' .. inst .. '\\t' .. sid .. '\\t' .. nick
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], value)
  redis.call('SADD', setk, KEYS[i])
end
return {'OK'}
`;

/**
 * Gives a nickname up: KEYS its look-key entries; ARGV instance, session id, nick, hold ms, address block,
 * the node's key set. Only entries that are still this session's are touched; with a hold they become
 * hold entries that expire by themselves.
 */
export const RELEASE_SCRIPT = `
local inst, sid, nick, hold, addr, setk = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local mine = 'u\\t' .. inst .. '\\t' .. sid .. '\\t' .. nick
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == mine then
    if hold > 0 then
      redis.call('SET', KEYS[i], 'h\\t' .. addr .. '\\t\\t' .. nick, 'PX', hold)
    else
      redis.call('DEL', KEYS[i])
    end
    redis.call('SREM', setk, KEYS[i])
  end
end
return 0
`;

/**
 * After a reconnect: removes this node's entries that no session holds any more (given up while Redis was
 * unreachable). KEYS[1] the node's key set; ARGV[1] the instance, then "session<TAB>nick" of every
 * current user.
 */
export const TIDY_SCRIPT = `
local prefix = 'u\\t' .. ARGV[1] .. '\\t'
local current = {}
for i = 2, #ARGV do current[ARGV[i]] = true end
local removed = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', k)
  if not v or string.sub(v, 1, #prefix) ~= prefix then
    redis.call('SREM', KEYS[1], k)
  elseif not current[string.sub(v, #prefix + 1)] then
    redis.call('DEL', k)
    redis.call('SREM', KEYS[1], k)
    removed = removed + 1
  end
end
return removed
`;

/** Removes a dead node's nickname entries and key set: KEYS[1] its key set; ARGV[1] its instance. */
export const REAP_SCRIPT = `
local prefix = 'u\\t' .. ARGV[1] .. '\\t'
local keys = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(keys) do
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, #prefix) == prefix then redis.call('DEL', k) end
end
redis.call('DEL', KEYS[1])
return #keys
`;

/**
 * How long Redis keeps a room's topic after it was last set, read or renewed. Every node renews the topics
 * of the rooms it keeps within TOPIC_RENEW_MS, so a topic goes only once no node has had its room for that long.
 */
export const TOPIC_TTL_MS = 30 * 24 * 3_600_000;

/** How long a node takes to renew the topics of all its rooms (a little at each heartbeat), well inside TOPIC_TTL_MS. */
export const TOPIC_RENEW_MS = 24 * 3_600_000;

/**
 * Sets a room's topic and publishes the change, atomically, so the version a message carries is the one
 * stored: KEYS[1] the topic hash; ARGV text, by, at, TTL ms, then the message before and after its version
 * number, then the channels to publish it on. Returns the new version.
 */
export const TOPIC_SET_SCRIPT = `
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'text', ARGV[1], 'by', ARGV[2], 'at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local message = ARGV[5] .. v .. ARGV[6]
for i = 7, #ARGV do redis.call('PUBLISH', ARGV[i], message) end
return v
`;

/** Reads a room's topic as {text, by, at, v} (all nil when none) and keeps it TOPIC_TTL_MS more: KEYS[1] the hash; ARGV[1] the TTL. */
export const TOPIC_GET_SCRIPT = `
local t = redis.call('HMGET', KEYS[1], 'text', 'by', 'at', 'v')
if t[4] then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return t
`;

/**
 * Keeps a room's topic for TOPIC_TTL_MS more, and stores the node's own if Redis has none (Redis restarted
 * empty, or every node that had the room was down that long; the first offer wins): KEYS[1] the topic
 * hash; ARGV text, by, at, the version the node last saw (so other nodes take the changes after it), TTL
 * ms. An empty text is never offered: a cleared topic and no topic read the same. Returns 1 when it stored
 * the topic.
 */
export const TOPIC_RENEW_SCRIPT = `
if redis.call('PEXPIRE', KEYS[1], ARGV[5]) == 1 or ARGV[1] == '' then return 0 end
redis.call('HSET', KEYS[1], 'text', ARGV[1], 'by', ARGV[2], 'at', ARGV[3], 'v', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;
