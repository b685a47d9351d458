import { PresenceError } from "./errors.js";
import type { ServerMessage } from "./types.js";

interface Pending {
  msg: Record<string, unknown>;
  /** internal: a restore's own request, dropped with its connection (the next welcome restores afresh). */
  internal: boolean;
  onReply: (m: ServerMessage) => unknown;
  resolve: (v: any) => void;
  reject: (e: PresenceError) => void;
}

/**
 * Requests holds the requests waiting for their reply, by id. A request
 * outlives its connection: the client sends the waiting ones again after the
 * next welcome, so they reject only when the client closes for good.
 */
export class Requests {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** add registers msg under a fresh id; it returns the message to send and the reply's promise. */
  add<T>(msg: Record<string, unknown>, onReply: (m: ServerMessage) => T, internal: boolean): [Record<string, unknown>, Promise<T>] {
    const id = this.nextId++;
    const withId = { ...msg, id };
    const reply = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { msg: withId, internal, onReply, resolve, reject });
    });
    return [withId, reply];
  }

  /**
   * settle completes the request msg replies to, and reports whether there
   * was one. onReply runs now, before any later message is read.
   */
  settle(msg: ServerMessage): boolean {
    const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
    if (!p) return false;
    this.pending.delete(msg.id as number);
    if (msg.type === "error") {
      p.reject(new PresenceError(msg.code, msg.message));
      return true;
    }
    try {
      p.resolve(p.onReply(msg));
    } catch (err) {
      p.reject(new PresenceError("bad_reply", `the reply to ${String(p.msg.type)} could not be read: ${(err as Error)?.message ?? err}`));
    }
    return true;
  }

  /** waiting returns the messages still without a reply, oldest first. */
  waiting(): Record<string, unknown>[] {
    return [...this.pending.values()].map((p) => p.msg);
  }

  /** dropInternal rejects the restore's own requests of a closed connection. */
  dropInternal(): void {
    for (const [id, p] of this.pending) {
      if (!p.internal) continue;
      this.pending.delete(id);
      p.reject(new PresenceError("disconnected", "the connection closed before the reply"));
    }
  }

  /** rejectAll rejects every request: the client is closed. */
  rejectAll(err: PresenceError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}
