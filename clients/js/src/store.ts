import type { Presence } from "./types.js";

/**
 * PresenceStore holds the latest presence of every watched user, ordered by
 * the server's per-user version: an update older than the one held is
 * dropped, so the order messages happen to arrive in never matters.
 *
 * subscribe/getSnapshot follow React's useSyncExternalStore contract (and
 * suit Svelte and Vue alike): getSnapshot returns the same object until the
 * content changes, then a new one.
 */
export class PresenceStore {
  private readonly held = new Map<string, Presence>();
  private readonly listeners = new Set<() => void>();
  private snap: ReadonlyMap<string, Presence> | null = null;

  /** subscribe calls onChange after every change; it returns the unsubscribe. */
  readonly subscribe = (onChange: () => void): (() => void) => {
    this.listeners.add(onChange);
    return () => {
      this.listeners.delete(onChange);
    };
  };

  /** getSnapshot returns an immutable view, identical until something changes. */
  readonly getSnapshot = (): ReadonlyMap<string, Presence> => {
    if (!this.snap) this.snap = new Map(this.held);
    return this.snap;
  };

  get(userId: string): Presence | undefined {
    return this.held.get(userId);
  }

  /**
   * apply takes presences in and returns those that changed what is held
   * (stale or equal versions are dropped). Listeners run once per call.
   */
  apply(presences: Iterable<Presence>): Presence[] {
    const changed: Presence[] = [];
    for (const p of presences) {
      if (!p || typeof p.user_id !== "string") continue;
      const cur = this.held.get(p.user_id);
      if (cur && !(p.v > cur.v)) continue;
      this.held.set(p.user_id, p);
      changed.push(p);
    }
    if (changed.length) this.changed();
    return changed;
  }

  /** forget drops users no longer watched. */
  forget(userIds: Iterable<string>): void {
    let any = false;
    for (const id of userIds) any = this.held.delete(id) || any;
    if (any) this.changed();
  }

  /** clear drops everything and every listener (the client closed). */
  clear(): void {
    const had = this.held.size > 0;
    this.held.clear();
    if (had) this.changed();
    this.listeners.clear();
  }

  /** listenerCount reports how many listeners are held, for leak checks. */
  listenerCount(): number {
    return this.listeners.size;
  }

  private changed(): void {
    this.snap = null;
    for (const fn of [...this.listeners]) fn();
  }
}
