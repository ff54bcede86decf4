/**
 * How room lines reach other nodes. `room`: one Redis channel per room, which a node subscribes to while
 * it has members there; a line is published once and Redis copies it to exactly the nodes that want it.
 * `node`: one channel per node; the publisher sends a line once to each node with members in the room.
 * Its own file so that option parsing does not load the Redis client.
 */
export const REDIS_LAYOUTS = ['room', 'node'] as const;

/** One of REDIS_LAYOUTS. */
export type RedisLayout = (typeof REDIS_LAYOUTS)[number];
