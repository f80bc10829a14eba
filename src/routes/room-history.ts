/**
 * Recent chat messages per room, for the REST resync. Bounded twice (messages per room and
 * rooms kept), so that chatting in a million room names cannot exhaust memory.
 */

export interface ChatMessage {
  id: string;
  room: string;
  username: string;
  text: string;
  /** ISO time the server accepted it. */
  at: string;
}

export class RoomHistory {
  // A Map iterates in insertion order: re-inserting on write keeps the least recently used first.
  readonly #rooms = new Map<string, ChatMessage[]>();

  constructor(
    readonly perRoom = 50,
    readonly maxRooms = 1000,
  ) {}

  push(message: ChatMessage): void {
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

  recent(room: string): ChatMessage[] {
    return [...(this.#rooms.get(room) ?? [])];
  }
}
