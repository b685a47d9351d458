import { Emitter } from "./emitter.js";
import { PresenceError } from "./errors.js";
import type { Clock, RoomMember, ServerMessage } from "./types.js";

/** The client side a room needs: requests, fire-and-forget sends, time. */
export interface RoomTransport {
  request<T>(msg: Record<string, unknown>, onReply?: (m: ServerMessage) => T): Promise<T>;
  /** send sends now when connected and reports whether it did. */
  send(msg: Record<string, unknown>): boolean;
  clock: Clock;
  cursorIntervalMs: number;
  forget(room: Room): void;
}

/** A cursor another connection sent. */
export interface CursorEvent {
  user_id: string;
  session_id: string;
  cursor: Record<string, unknown>;
}

export type RoomEvents = {
  join: (member: RoomMember) => void;
  update: (member: RoomMember) => void;
  leave: (userId: string) => void;
  cursor: (c: CursorEvent) => void;
  /** change follows every change of members or count, once per message. */
  change: (room: Room) => void;
  /** error: the room could not be joined again after a reconnect; it is left. */
  error: (err: PresenceError) => void;
};

/** The largest page room_members allows: fewer round trips on a big room. */
const pageLimit = 1000;

/**
 * Room is this connection's membership of one room. `members` is kept
 * current from room_state (every page of it), room_join, room_update,
 * room_leave and room_summary, ordered by each member's version: an event
 * not newer than what is held for that member is dropped. After a reconnect
 * the client joins again with the latest meta and the fresh room_state
 * replaces what was held.
 */
export class Room extends Emitter<RoomEvents> {
  readonly name: string;
  /** members maps user id to member; read-only for the application. */
  readonly members = new Map<string, RoomMember>();
  /** count is the number of members the server lets you count. */
  count = 0;
  /** v is the room's version as last seen. */
  v = 0;
  private meta: Record<string, unknown>;
  private readonly versions = new Map<string, number>();
  /** tombstones hold the version of leaves seen while a read is paging. */
  private readonly tombstones = new Map<string, number>();
  private reading = 0;
  private rereadWanted = false;
  private lastCursorAt = -Infinity;
  private pendingCursor: Record<string, unknown> | null = null;
  private cursorTimer: unknown = null;
  private left = false;

  constructor(
    private readonly t: RoomTransport,
    name: string,
    meta: Record<string, unknown>,
  ) {
    super();
    this.name = name;
    this.meta = meta;
  }

  /** joinMessage is what (re)joins the room with the latest meta. */
  joinMessage(): Record<string, unknown> {
    return { type: "join_room", room: this.name, meta: this.meta };
  }

  /** updateMeta replaces this connection's meta; it is kept for rejoins. */
  updateMeta(meta: Record<string, unknown>): Promise<void> {
    if (this.left) return Promise.reject(new PresenceError("not_found", `left room ${this.name}`));
    this.meta = meta;
    return this.t.request({ type: "update_room_meta", room: this.name, meta }, () => undefined);
  }

  /**
   * sendCursor sends this connection's cursor, at most at the server's
   * cursor rate: one sent too soon waits, replacing any already waiting, so
   * the last position always goes out.
   */
  sendCursor(cursor: Record<string, unknown>): void {
    if (this.left) return;
    const now = this.t.clock.now();
    const wait = this.lastCursorAt + this.t.cursorIntervalMs - now;
    if (wait <= 0 && this.cursorTimer === null) {
      this.flushCursor(cursor, now);
      return;
    }
    this.pendingCursor = cursor;
    if (this.cursorTimer === null) {
      this.cursorTimer = this.t.clock.setTimeout(() => {
        this.cursorTimer = null;
        const c = this.pendingCursor;
        this.pendingCursor = null;
        if (c) this.flushCursor(c, this.t.clock.now());
      }, Math.max(wait, 0));
    }
  }

  /** leave leaves the room and releases everything the room holds. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.dispose();
    try {
      await this.t.request({ type: "leave_room", room: this.name }, () => undefined);
    } catch (err) {
      // not_found: the connection is not in the room (a reconnect dropped it).
      if (!(err instanceof PresenceError) || (err.code !== "not_found" && err.code !== "closed")) throw err;
    }
  }

  /** dispose releases timers, members and listeners without telling the server. */
  dispose(): void {
    if (this.left) return;
    this.left = true;
    if (this.cursorTimer !== null) this.t.clock.clearTimeout(this.cursorTimer);
    this.cursorTimer = null;
    this.pendingCursor = null;
    this.members.clear();
    this.versions.clear();
    this.tombstones.clear();
    this.t.forget(this);
    this.removeAllListeners();
  }

  /** isLeft reports whether the room was left or disposed. */
  isLeft(): boolean {
    return this.left;
  }

  /** fail reports a failed rejoin and releases the room. */
  fail(err: PresenceError): void {
    this.emit("error", err);
    this.dispose();
  }

  /** applyState starts afresh from a room_state, then pages the rest. */
  applyState(msg: ServerMessage): void {
    const before = new Map(this.members);
    this.members.clear();
    this.versions.clear();
    this.tombstones.clear();
    const v = num(msg.v);
    for (const m of members(msg.members)) this.put(m, v);
    this.count = num(msg.count);
    this.v = v;
    for (const [id, m] of this.members) if (!before.has(id)) this.emit("join", m);
    for (const id of before.keys()) if (!this.members.has(id)) this.emit("leave", id);
    this.emit("change", this);
    if (msg.next != null) void this.page(msg.next, null);
  }

  /** handle applies one push about this room. */
  handle(msg: ServerMessage): void {
    if (this.left) return;
    switch (msg.type) {
      case "room_join":
      case "room_update":
        this.memberChanged(msg);
        break;
      case "room_leave":
        this.memberLeft(msg);
        break;
      case "room_summary":
        this.summary(msg);
        break;
      case "cursor":
        if (msg.user_id && msg.cursor) this.emit("cursor", { user_id: msg.user_id, session_id: msg.session_id, cursor: msg.cursor });
        break;
    }
  }

  private memberChanged(msg: ServerMessage): void {
    const [m] = members([msg.member]);
    const v = num(msg.v);
    if (!m || !this.newer(m.user_id, v)) return;
    const known = this.members.has(m.user_id);
    this.put(m, v);
    this.tick(msg);
    this.emit(known ? "update" : "join", m);
    this.emit("change", this);
  }

  private memberLeft(msg: ServerMessage): void {
    const id = msg.user_id as string;
    const v = num(msg.v);
    if (typeof id !== "string" || !this.newer(id, v)) return;
    const known = this.members.delete(id);
    this.versions.delete(id);
    if (this.reading) this.tombstones.set(id, v);
    this.tick(msg);
    if (known) this.emit("leave", id);
    this.emit("change", this);
  }

  /** summary applies a large room's net change; the joined and updated are re-read. */
  private summary(msg: ServerMessage): void {
    const v = num(msg.v);
    for (const id of list<string>(msg.left)) {
      if (this.members.delete(id)) this.emit("leave", id);
      this.versions.delete(id);
      if (this.reading) this.tombstones.set(id, v);
    }
    this.tick(msg);
    this.emit("change", this);
    if (list(msg.joined).length || list(msg.updated).length || msg.truncated) {
      if (this.reading) this.rereadWanted = true;
      else void this.page(undefined, new Set());
    }
  }

  /**
   * page reads room_members from `after` on. A whole re-read (seen given)
   * ends by dropping members it did not see that are older than the read.
   */
  private async page(after: unknown, seen: Set<string> | null): Promise<void> {
    this.reading++;
    let startV = -1;
    try {
      let cursor = after;
      do {
        const msg: ServerMessage = await this.t.request(
          cursor === undefined
            ? { type: "room_members", room: this.name, limit: pageLimit }
            : { type: "room_members", room: this.name, after: cursor, limit: pageLimit },
          (m) => m,
        );
        if (this.left) return;
        const v = num(msg.v);
        if (startV < 0) startV = v;
        let changed = false;
        for (const m of members(msg.members)) {
          seen?.add(m.user_id);
          if (this.newer(m.user_id, v) && !((this.tombstones.get(m.user_id) ?? -1) >= v)) {
            const known = this.members.has(m.user_id);
            this.put(m, v);
            this.emit(known ? "update" : "join", m);
            changed = true;
          }
        }
        if (v > this.v) {
          this.v = v;
          this.count = num(msg.count);
        }
        if (changed) this.emit("change", this);
        cursor = msg.next;
      } while (cursor != null);
      if (seen) {
        let changed = false;
        for (const [id] of this.members) {
          if (!seen.has(id) && (this.versions.get(id) ?? 0) < startV) {
            this.members.delete(id);
            this.versions.delete(id);
            this.emit("leave", id);
            changed = true;
          }
        }
        if (changed) this.emit("change", this);
      }
    } catch {
      // A failed page is read again on the next summary or rejoin.
    } finally {
      if (--this.reading === 0) this.tombstones.clear();
    }
    if (this.rereadWanted && !this.reading && !this.left) {
      this.rereadWanted = false;
      void this.page(undefined, new Set());
    }
  }

  private newer(userId: string, v: number): boolean {
    return v > (this.versions.get(userId) ?? -1);
  }

  private put(m: RoomMember, v: number): void {
    this.members.set(m.user_id, m);
    this.versions.set(m.user_id, v);
  }

  private tick(msg: ServerMessage): void {
    const v = num(msg.v);
    if (v >= this.v) {
      this.v = v;
      if (typeof msg.count === "number") this.count = msg.count;
    }
  }

  private flushCursor(cursor: Record<string, unknown>, now: number): void {
    if (this.t.send({ type: "cursor", room: this.name, cursor })) this.lastCursorAt = now;
  }
}

function num(x: unknown): number {
  return typeof x === "number" ? x : 0;
}

function list<T = any>(x: unknown): T[] {
  return Array.isArray(x) ? x : [];
}

/** members keeps the well-formed members of a list: a bad entry is skipped, not fatal. */
function members(x: unknown): RoomMember[] {
  return list<RoomMember>(x).filter((m) => m && typeof m.user_id === "string" && Array.isArray(m.connections));
}
