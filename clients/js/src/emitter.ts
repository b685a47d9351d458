/**
 * Emitter is a minimal typed event emitter. on() returns the function that
 * removes the listener, so owners can release what they added; a listener
 * that throws does not stop the others (the error is rethrown later, off the
 * protocol path).
 */
export class Emitter<E extends Record<string, (...args: any[]) => void>> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();

  on<K extends keyof E>(event: K, fn: E[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off<K extends keyof E>(event: K, fn: E[K]): void {
    const set = this.listeners.get(event);
    if (set?.delete(fn) && set.size === 0) this.listeners.delete(event);
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** listenerCount reports how many listeners are held, for leak checks. */
  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
