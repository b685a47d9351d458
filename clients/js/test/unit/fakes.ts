import type { Clock, SocketLike } from "../../src/types.js";

/** FakeClock runs timers when the test advances time, never by itself. */
export class FakeClock implements Clock {
  t = 1_000_000;
  private seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();

  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };

  /** advance moves time on, running every timer that falls due in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }

  /** nextDelay is the time until the earliest timer, or null. */
  nextDelay(): number | null {
    let min: number | null = null;
    for (const { at } of this.timers.values()) if (min === null || at - this.t < min) min = at - this.t;
    return min;
  }
}

/** FakeSocket records what the client sends; the test plays the server. */
export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  static last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }
  readyState = 0;
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  readonly sent: any[] = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(JSON.parse(data));
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  // ---- the server's side
  welcome(extra: Record<string, unknown> = {}): void {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ type: "welcome", user_id: "alice", session_id: "s" + FakeSocket.all.length, heartbeat_interval_ms: 15000, heartbeat_ttl_ms: 30000, offline_grace_ms: 5000, max_message_bytes: 65536, ...extra });
  }
  push(msg: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  /** take returns and forgets what was sent so far. */
  take(): any[] {
    return this.sent.splice(0);
  }
  /** reply answers the last sent request of this type with msg (plus its id). */
  reply(type: string, msg: Record<string, unknown>): void {
    const req = [...this.sent].reverse().find((m) => m.type === type);
    if (!req) throw new Error(`no ${type} sent; sent: ${JSON.stringify(this.sent)}`);
    this.push({ ...msg, id: req.id });
  }
}

/** flush lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

export function presence(user_id: string, v: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { user_id, status: "online", activity: null, activity_expires_at: null, custom_status: null, custom_emoji: null, custom_status_expires_at: null, last_seen: null, device: "web", devices: [], idle: false, v, ...extra };
}

/** FakePage is a window and a document whose listeners the test can count. */
export class FakePage {
  readonly window = new CountingTarget();
  readonly document = Object.assign(new CountingTarget(), { visibilityState: "visible" });
  setVisibility(state: "visible" | "hidden"): void {
    this.document.visibilityState = state;
    this.document.dispatchEvent(new Event("visibilitychange"));
  }
  input(type = "keydown"): void {
    this.window.dispatchEvent(new Event(type));
  }
  listeners(): number {
    return this.window.count + this.document.count;
  }
}

class CountingTarget extends EventTarget {
  count = 0;
  override addEventListener(type: string, fn: any, opts?: any): void {
    this.count++;
    super.addEventListener(type, fn, opts);
  }
  override removeEventListener(type: string, fn: any, opts?: any): void {
    this.count--;
    super.removeEventListener(type, fn, opts);
  }
}
