/**
 * Recent chat messages per room, for the REST resync: in memory for one process, in Redis when
 * several instances serve the rooms (a resync on any instance sees every accepted message).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { closeRedis, connectRedis, whenReady } from '../ws/redis-connection.ts';

export interface ChatMessage {
  id: string;
  room: string;
  username: string;
  text: string;
  /** ISO time the server accepted it. */
  at: string;
}

/** Where accepted messages are kept. `push` rejects when the message could not be kept. */
export interface RoomHistory {
  push(message: ChatMessage): Promise<void>;
  /** The room's recent messages, oldest first. */
  recent(room: string): Promise<ChatMessage[]>;
  close(): Promise<void>;
}

/** Bounded twice (messages per room and rooms kept), so that chatting in a million room names cannot exhaust memory. */
export class MemoryRoomHistory implements RoomHistory {
  // A Map iterates in insertion order: re-inserting on write keeps the least recently used first.
  readonly #rooms = new Map<string, ChatMessage[]>();

  constructor(
    readonly perRoom = 50,
    readonly maxRooms = 1000,
  ) {}

  async push(message: ChatMessage): Promise<void> {
    const list = this.#rooms.get(message.room) ?? [];
    this.#rooms.delete(message.room);
    list.push(message);
    if (list.length > this.perRoom) list.splice(0, list.length - this.perRoom);
    this.#rooms.set(message.room, list);
    if (this.#rooms.size > this.maxRooms) {
      const oldest = this.#rooms.keys().next().value;
      if (oldest !== undefined) this.#rooms.delete(oldest);
    }
  }

  async recent(room: string): Promise<ChatMessage[]> {
    return [...(this.#rooms.get(room) ?? [])];
  }

  async close(): Promise<void> {}
}

export interface RedisRoomHistoryOptions {
  url: string;
  /** Key prefix: `<prefix>history:<room>`. */
  prefix: string;
  logger: Logger;
  /** Name of the connection in `CLIENT LIST`. */
  connectionName: string;
  perRoom?: number;
  /** A room quiet this long is forgotten (Redis expires the key). Default one day. */
  ttlMs?: number;
}

/** How long a request made right after start-up waits for the first connection. */
const FIRST_CONNECT_WAIT_MS = 3000;

/** One capped list per room (newest first), shared by every instance; rooms expire when quiet. */
export class RedisRoomHistory implements RoomHistory {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #perRoom: number;
  readonly #ttlMs: number;
  /** Settles once connected for the first time; later outages fail fast like every connection. */
  readonly #firstConnect: Promise<void>;

  constructor(options: RedisRoomHistoryOptions) {
    this.#redis = connectRedis(options.url, options.connectionName, options.logger);
    this.#prefix = `${options.prefix}history:`;
    this.#perRoom = options.perRoom ?? 50;
    this.#ttlMs = options.ttlMs ?? 24 * 60 * 60 * 1000;
    this.#firstConnect = Promise.race([whenReady(this.#redis), new Promise<void>((resolve) => setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref())]);
  }

  /** Resolves once connected (start-up, tests). */
  ready(): Promise<void> {
    return whenReady(this.#redis);
  }

  async push(message: ChatMessage): Promise<void> {
    await this.#firstConnect;
    const key = this.#prefix + message.room;
    await this.#redis.multi().lpush(key, JSON.stringify(message)).ltrim(key, 0, this.#perRoom - 1).pexpire(key, this.#ttlMs).exec();
  }

  async recent(room: string): Promise<ChatMessage[]> {
    await this.#firstConnect;
    const items = await this.#redis.lrange(this.#prefix + room, 0, this.#perRoom - 1);
    return items.reverse().map((item) => JSON.parse(item) as ChatMessage);
  }

  close(): Promise<void> {
    return closeRedis(this.#redis);
  }
}
