import { ActivityMonitor, type ActivityTargets } from "./activity.js";
import { closeAction, defaultBackoff, type BackoffConfig } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { Heartbeat } from "./heartbeat.js";
import { Outbox } from "./outbox.js";
import { PresenceError } from "./errors.js";
import { Room, type RoomTransport } from "./room.js";
import { Requests } from "./requests.js";
import { PresenceStore } from "./store.js";
import type {
  Clock,
  ConnectionState,
  ManualStatus,
  Presence,
  Privacy,
  ServerMessage,
  SocketFactory,
  SocketLike,
  StatusOptions,
  Welcome,
} from "./types.js";

export interface ClientOptions {
  /** The WebSocket endpoint, e.g. ws://127.0.0.1:7700/v1/ws. */
  url: string;
  /** A JWT, or a function giving one; the function is called on every (re)connect. */
  token?: string | (() => string | Promise<string>);
  /** The user id, accepted instead of a token by --dev servers only. */
  userId?: string;
  /** The device name, e.g. "web". */
  device?: string;
  /** Go online on every welcome (default true); false only watches. */
  autoOnline?: boolean;
  /** No input for this long turns the session idle. Default 300000 (5 min). */
  idleAfterMs?: number;
  /** The page hidden for this long turns the session idle. Default 60000 (1 min). */
  hiddenIdleAfterMs?: number;
  /**
   * Where input and visibility are watched: the page's window and document by
   * default, none in Node. false turns idle detection off.
   */
  activity?: ActivityTargets | false;
  /**
   * Frames other than cursors are paced to this rate and burst (18 and 40),
   * under the server's --rate-limit and --rate-burst (20 and 50), so that
   * bursts wait instead of being refused. Raise them with the server's.
   */
  maxMessagesPerSecond?: number;
  messageBurst?: number;
  /** Cursors sent per room and second at most (the server's 30). */
  cursorRate?: number;
  /** Reconnect backoff: first ceiling (500 ms) and largest (30 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** The WebSocket constructor; globalThis.WebSocket by default. */
  WebSocket?: SocketFactory;
  /** Time and timers; the real ones by default. */
  clock?: Clock;
  /** Random numbers in [0, 1) for the jitter; Math.random by default. */
  random?: () => number;
}

export type ClientEvents = {
  state: (s: ConnectionState) => void;
  presence: (p: Presence) => void;
  welcome: (w: Welcome) => void;
  /** error: an error the server pushed without a request (unavailable, rate_limited), or a failed token. */
  error: (e: PresenceError) => void;
};

/** The most ids one subscribe or get_presence request may carry. */
const maxIdsPerRequest = 1000;
/** While input goes on, idle:false is re-reported this often (the server's --away-after is 5 min). */
const activityRefreshMs = 60_000;
const OPEN = 1;

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * PresenceClient is one connection to presenced that stays connected: it
 * reconnects by itself as the protocol's close codes advise and restores,
 * after each welcome, the session, the manual status, the subscriptions and
 * the rooms. Requests made while disconnected wait and are sent after the
 * restore; they reject only when the client closes for good.
 */
export class PresenceClient extends Emitter<ClientEvents> {
  /** store is the presence cache, for useSyncExternalStore and the like. */
  readonly store = new PresenceStore();
  state: ConnectionState = "closed";
  /** welcome is the last welcome, or null before the first. */
  welcome: Welcome | null = null;

  private readonly opts: ClientOptions;
  private readonly clock: Clock;
  private readonly backoff: BackoffConfig;
  private readonly WS: SocketFactory;
  private ws: SocketLike | null = null;
  private generation = 0;
  private welcomed = false;
  private ended = false;
  private attempt = 0;
  private retryTimer: unknown = null;
  private readonly heartbeat: Heartbeat;
  private lastSent = 0;
  private readonly requests = new Requests();
  private readonly outbox: Outbox;
  private online: boolean;
  private manual: { status: ManualStatus; expiresAt?: number } | null = null;
  private readonly subs = new Set<string>();
  private readonly rooms = new Map<string, Room>();
  private activity: ActivityMonitor | null = null;
  private connectWaiters: { resolve: (w: Welcome) => void; reject: (e: PresenceError) => void }[] = [];
  private readonly roomTransport: RoomTransport;

  constructor(opts: ClientOptions) {
    super();
    if (!opts || typeof opts.url !== "string") throw new PresenceError("invalid_argument", "url is required");
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.backoff = {
      baseMs: opts.backoffBaseMs ?? defaultBackoff.baseMs,
      capMs: opts.backoffCapMs ?? defaultBackoff.capMs,
      random: opts.random ?? Math.random,
    };
    const WS = opts.WebSocket ?? (globalThis as any).WebSocket;
    if (!WS) throw new PresenceError("invalid_argument", "no WebSocket: pass options.WebSocket (e.g. the ws package in Node)");
    this.WS = WS;
    this.online = opts.autoOnline !== false;
    this.outbox = new Outbox({
      clock: this.clock,
      ratePerSecond: opts.maxMessagesPerSecond ?? 18,
      burst: opts.messageBurst ?? 40,
      write: (frame) => void this.write(frame),
    });
    this.heartbeat = new Heartbeat({
      clock: this.clock,
      needed: () => this.online,
      lastSent: () => this.lastSent,
      send: () => this.sendNow({ type: "heartbeat" }),
    });
    this.roomTransport = {
      request: (msg, onReply) => this.request(msg, onReply),
      send: (msg) => this.sendDirect(msg),
      clock: this.clock,
      cursorIntervalMs: Math.ceil(1000 / (opts.cursorRate ?? 30)),
      forget: (room) => {
        if (this.rooms.get(room.name) === room) this.rooms.delete(room.name);
      },
    };
  }

  /** connect opens the connection; it resolves on the first welcome. */
  connect(): Promise<Welcome> {
    if (this.ended) return Promise.reject(new PresenceError("closed", "the client is closed"));
    if (this.welcomed && this.welcome) return Promise.resolve(this.welcome);
    const p = new Promise<Welcome>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (this.state === "closed") {
      this.setState("connecting");
      this.startActivity();
      void this.open();
    }
    return p;
  }

  /** close closes the connection for good and releases every timer, listener, room and cached presence. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.teardown(1000, new PresenceError("closed", "the client is closed"));
  }

  /** get returns the latest presence held for a watched user. */
  get(userId: string): Presence | undefined {
    return this.store.get(userId);
  }

  /** setStatus sets the manual status (and the optional fields); "online" clears it. It is restored after a reconnect. */
  setStatus(status: ManualStatus, o: StatusOptions = {}): Promise<void> {
    const msg: Record<string, unknown> = { type: "set_status", status };
    if (o.customStatus !== undefined) msg.custom_status = o.customStatus;
    if (o.customEmoji !== undefined) msg.custom_emoji = o.customEmoji;
    if (o.activity !== undefined) msg.activity = o.activity;
    if (o.expiresAt !== undefined) msg.expires_at = o.expiresAt;
    if (o.activityExpiresAt !== undefined) msg.activity_expires_at = o.activityExpiresAt;
    if (o.customStatusExpiresAt !== undefined) msg.custom_status_expires_at = o.customStatusExpiresAt;
    this.manual = status === "online" ? null : { status, expiresAt: o.expiresAt };
    return this.request(msg, () => undefined);
  }

  /** goOnline makes this connection a presence session (what autoOnline does on connect). */
  goOnline(): Promise<void> {
    this.online = true;
    return this.request({ type: "set_online", device: this.opts.device }, () => this.sendIdle());
  }

  /** goOffline ends this connection's session now, with no grace; it stays a watcher. */
  goOffline(): Promise<void> {
    this.online = false;
    return this.request({ type: "set_offline" }, () => undefined);
  }

  /**
   * subscribe watches users; it resolves with their presences (merged by
   * version). Refused ids (limit_exceeded, invalid_argument) are not watched.
   */
  async subscribe(userIds: string[]): Promise<Map<string, Presence>> {
    const ids = [...new Set(userIds)];
    const replies: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i += maxIdsPerRequest) {
      const chunk = ids.slice(i, i + maxIdsPerRequest);
      for (const id of chunk) this.subs.add(id);
      const reply = this.request({ type: "subscribe", user_ids: chunk }, (m) => this.snapshot(m));
      replies.push(
        reply.catch((err) => {
          for (const id of chunk) this.subs.delete(id);
          throw err;
        }),
      );
    }
    await Promise.all(replies);
    const out = new Map<string, Presence>();
    for (const id of ids) {
      const p = this.store.get(id);
      if (p) out.set(id, p);
    }
    return out;
  }

  /** unsubscribe stops watching users and drops them from the cache. */
  async unsubscribe(userIds: string[]): Promise<void> {
    const ids = [...new Set(userIds)];
    for (const id of ids) this.subs.delete(id);
    this.store.forget(ids);
    const replies: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i += maxIdsPerRequest) {
      replies.push(this.request({ type: "unsubscribe", user_ids: ids.slice(i, i + maxIdsPerRequest) }, () => undefined));
    }
    await Promise.all(replies);
  }

  getPrivacy(): Promise<Privacy> {
    return this.request({ type: "get_privacy" }, privacyOf);
  }

  setPrivacy(p: Partial<Privacy>): Promise<Privacy> {
    return this.request({ ...p, type: "set_privacy" }, privacyOf);
  }

  block(userId: string): Promise<void> {
    return this.request({ type: "block", user_id: userId }, () => undefined);
  }

  unblock(userId: string): Promise<void> {
    return this.request({ type: "unblock", user_id: userId }, () => undefined);
  }

  /** joinRoom joins a room with this connection's meta; it is joined again after a reconnect. */
  joinRoom(name: string, meta: Record<string, unknown> = {}): Promise<Room> {
    if (this.rooms.has(name)) return Promise.reject(new PresenceError("conflict", `already in room ${name}`));
    const room = new Room(this.roomTransport, name, meta);
    this.rooms.set(name, room);
    return this.request(room.joinMessage(), (m) => {
      room.applyState(m);
      return room;
    }).catch((err) => {
      room.dispose();
      throw err;
    });
  }

  /** room returns a joined room by name. */
  room(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  // ---- requests

  /**
   * request sends msg with a fresh id when connected, or keeps it for the
   * next welcome. onReply runs as the reply is read, before any later
   * message, so the cache never sees a push before the snapshot it follows.
   */
  private request<T>(msg: Record<string, unknown>, onReply: (m: ServerMessage) => T = (m) => m as T, internal = false): Promise<T> {
    if (this.ended) return Promise.reject(new PresenceError("closed", "the client is closed"));
    const [withId, reply] = this.requests.add(msg, onReply, internal);
    if (this.welcomed) this.sendNow(withId);
    return reply;
  }

  /** sendNow sends msg through the outbox when connected, and reports whether it could. */
  private sendNow(msg: Record<string, unknown>): boolean {
    if (!this.welcomed || !this.ws) return false;
    this.outbox.send(JSON.stringify(msg));
    return true;
  }

  /** sendDirect sends past the outbox: cursors have an allowance of their own. */
  private sendDirect(msg: Record<string, unknown>): boolean {
    return this.welcomed && this.write(JSON.stringify(msg));
  }

  private write(frame: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(frame);
    } catch {
      return false;
    }
    this.lastSent = this.clock.now();
    return true;
  }

  // ---- connection

  private async open(): Promise<void> {
    const gen = ++this.generation;
    let url: string;
    try {
      url = await this.buildURL();
    } catch (err) {
      if (gen !== this.generation || this.ended) return;
      this.emit("error", new PresenceError("unauthorized", `token: ${(err as Error)?.message ?? err}`));
      this.retry(1006);
      return;
    }
    if (gen !== this.generation || this.ended) return;
    let ws: SocketLike;
    try {
      ws = new this.WS(url);
    } catch (err) {
      this.retry(1006);
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (gen === this.generation) this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (gen === this.generation) this.onClose(ev.code);
    };
    ws.onerror = () => {};
  }

  private async buildURL(): Promise<string> {
    const q: string[] = [];
    const { token, userId, device } = this.opts;
    const t = typeof token === "function" ? await token() : token;
    if (t) q.push("token=" + encodeURIComponent(t));
    if (userId) q.push("user_id=" + encodeURIComponent(userId));
    if (device) q.push("device=" + encodeURIComponent(device));
    const url = this.opts.url;
    return q.length ? url + (url.includes("?") ? "&" : "?") + q.join("&") : url;
  }

  private onClose(code: number): void {
    this.ws = null;
    this.welcomed = false;
    this.heartbeat.stop();
    this.outbox.reset();
    if (this.ended) return;
    this.requests.dropInternal();
    this.retry(code);
  }

  private retry(code: number): void {
    const action = closeAction(code, this.attempt, typeof this.opts.token === "function", this.backoff);
    if (!action.retry) {
      this.ended = true;
      this.teardown(0, new PresenceError("closed", `the server closed the connection (${code})`));
      return;
    }
    this.attempt++;
    this.setState(this.state === "connecting" ? "connecting" : "reconnecting");
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, action.delayMs);
  }

  private onMessage(data: unknown): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "welcome") {
      this.onWelcome(msg as unknown as Welcome);
      return;
    }
    if (this.requests.settle(msg)) return;
    switch (msg.type) {
      case "presence_update":
        this.applyPresences([msg.presence]);
        break;
      case "error":
        this.emit("error", new PresenceError(msg.code, msg.message));
        break;
      default:
        if (typeof msg.room === "string") this.rooms.get(msg.room)?.handle(msg);
    }
  }

  /**
   * onWelcome restores everything, in this order on the wire: the session
   * and its idle state, the manual status, the subscriptions, the rooms;
   * then the requests that were waiting.
   */
  private onWelcome(w: Welcome): void {
    const waiting = this.requests.waiting();
    this.welcome = w;
    this.welcomed = true;
    this.attempt = 0;
    this.outbox.reset();
    this.setState("connected");
    this.emit("welcome", w);
    this.heartbeat.start(w.heartbeat_interval_ms);
    if (this.online) this.request({ type: "set_online", device: this.opts.device }, () => this.sendIdle(), true).catch(() => {});
    const m = this.manual;
    if (m && (m.expiresAt === undefined || m.expiresAt * 1000 > this.clock.now())) {
      const msg: Record<string, unknown> = { type: "set_status", status: m.status };
      if (m.expiresAt !== undefined) msg.expires_at = m.expiresAt;
      this.request(msg, () => undefined, true).catch(() => {});
    }
    // Users whose subscribe is still waiting go out with it, not twice.
    const inFlight = new Set(waiting.flatMap((m) => (m.type === "subscribe" ? (m.user_ids as string[]) : [])));
    const ids = [...this.subs].filter((id) => !inFlight.has(id));
    for (let i = 0; i < ids.length; i += maxIdsPerRequest) {
      this.request({ type: "subscribe", user_ids: ids.slice(i, i + maxIdsPerRequest) }, (r) => this.snapshot(r), true).catch(() => {});
    }
    for (const room of this.rooms.values()) {
      if (waiting.some((m) => m.type === "join_room" && m.room === room.name)) continue;
      this.request(room.joinMessage(), (r) => room.applyState(r), true).catch((err: PresenceError) => {
        if (err.code !== "disconnected" && err.code !== "closed") room.fail(err);
      });
    }
    for (const m of waiting) this.sendNow(m);
    for (const c of this.connectWaiters.splice(0)) c.resolve(w);
  }

  /** snapshot merges an initial_presence by version. */
  private snapshot(m: ServerMessage): void {
    this.applyPresences(Object.values(m.presences ?? {}));
  }

  /**
   * applyPresences caches what is newer, for watched users only: a reply or
   * push that was on its way when the user was unsubscribed is dropped.
   */
  private applyPresences(ps: Presence[]): void {
    const watched = ps.filter((p) => p && this.subs.has(p.user_id));
    for (const p of this.store.apply(watched)) this.emit("presence", p);
  }

  private sendIdle(): void {
    if (this.activity && this.online) this.sendNow({ type: "idle_state", idle: this.activity.isIdle() });
  }

  private startActivity(): void {
    if (this.activity || this.opts.activity === false) return;
    const g = globalThis as any;
    const targets = this.opts.activity ?? (g.window && g.document ? { window: g.window, document: g.document } : null);
    if (!targets) return;
    this.activity = new ActivityMonitor({
      targets,
      clock: this.clock,
      idleAfterMs: this.opts.idleAfterMs ?? 300_000,
      hiddenIdleAfterMs: this.opts.hiddenIdleAfterMs ?? 60_000,
      refreshMs: activityRefreshMs,
      report: (idle) => {
        if (this.online) this.sendNow({ type: "idle_state", idle });
      },
    });
  }

  // ---- lifecycle

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit("state", s);
  }

  /** teardown ends the client: everything held is released, waiters rejected. */
  private teardown(closeCode: number, err: PresenceError): void {
    this.generation++;
    this.welcomed = false;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.heartbeat.stop();
    this.outbox.reset();
    this.activity?.stop();
    this.activity = null;
    const ws = this.ws;
    this.ws = null;
    if (ws && closeCode) {
      try {
        ws.close(closeCode);
      } catch {
        /* already closing */
      }
    }
    this.requests.rejectAll(err);
    for (const c of this.connectWaiters.splice(0)) c.reject(err);
    for (const room of [...this.rooms.values()]) room.dispose();
    this.subs.clear();
    this.store.clear();
    this.setState("closed");
    this.removeAllListeners();
  }
}

function privacyOf(m: ServerMessage): Privacy {
  return { visibility: m.visibility, last_seen_visibility: m.last_seen_visibility, invisible: m.invisible };
}
