import { afterEach, describe, expect, it } from "vitest";
import { PresenceClient, PresenceError } from "../../src/index.js";
import { FakeClock, FakeSocket, flush, presence } from "./fakes.js";
import { reconnect, start } from "./setup.js";

afterEach(() => {
  FakeSocket.all = [];
});

describe("connection", () => {
  it("goes online on welcome and reports its states in order", async () => {
    const { c, clock, ws, states } = await start();
    expect(ws.url).toBe("ws://test/v1/ws?user_id=alice&device=web");
    expect(ws.take().map((m) => m.type)).toEqual(["set_online"]);
    const ws2 = await reconnect(clock, ws);
    c.close();
    expect(states).toEqual(["connecting", "connected", "reconnecting", "connected", "closed"]);
    expect(ws2.closedWith).toBe(1000);
  });

  it("only watches with autoOnline false", async () => {
    const { ws } = await start({ autoOnline: false });
    expect(ws.take()).toEqual([]);
  });

  it("reconnects with exponential backoff and full jitter, capped", async () => {
    const { clock, ws } = await start({ random: () => 0.9999 });
    ws.drop(1006);
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const d = clock.nextDelay()!;
      delays.push(d);
      clock.advance(d);
      await flush();
      FakeSocket.last().drop(1006);
    }
    expect(delays).toEqual([499, 999, 1999, 3999, 7999, 15998, 29997, 29997, 29997]);
    // A welcome starts the count again.
    clock.advance(clock.nextDelay()!);
    await flush();
    FakeSocket.last().welcome();
    FakeSocket.last().drop(1006);
    expect(clock.nextDelay()).toBe(499);
  });

  it("draws each delay at random below the ceiling", async () => {
    const { clock, ws } = await start({ random: () => 0.25 });
    ws.drop(1011);
    expect(clock.nextDelay()).toBe(125);
  });

  it("comes back at once, with jitter, after 1012", async () => {
    const { clock, ws } = await start({ random: () => 0.9999 });
    for (let i = 0; i < 3; i++) {
      ws.drop(1006);
      clock.advance(clock.nextDelay()!);
      await flush();
    }
    FakeSocket.last().welcome();
    FakeSocket.last().drop(1012);
    expect(clock.nextDelay()).toBeLessThan(500);
  });

  it("asks for a fresh token on every connect and after 4100", async () => {
    let n = 0;
    const { clock, ws } = await start({ userId: undefined, token: async () => `t${++n}` });
    expect(ws.url).toContain("token=t1");
    ws.drop(4100);
    clock.advance(clock.nextDelay()!);
    await flush();
    expect(FakeSocket.last().url).toContain("token=t2");
  });

  it("stops after 4100 when the token is a fixed string", async () => {
    const { c, ws, clock, states } = await start({ userId: undefined, token: "fixed" });
    ws.drop(4100);
    expect(c.state).toBe("closed");
    expect(clock.timers.size).toBe(0);
    expect(states.at(-1)).toBe("closed");
  });

  it("stops after a final close code and rejects what waits", async () => {
    for (const code of [1000, 1008, 1009, 4003]) {
      const { c, ws, clock } = await start();
      const before = FakeSocket.all.length;
      ws.drop(code);
      const r = c.subscribe(["bob"]);
      await expect(r).rejects.toMatchObject({ code: "closed" });
      clock.advance(120_000);
      await flush();
      expect(FakeSocket.all.length, String(code)).toBe(before);
      expect(c.state).toBe("closed");
    }
  });

  it("keeps retrying the first connection and resolves connect on the welcome", async () => {
    FakeSocket.all = [];
    const clock = new FakeClock();
    const c = new PresenceClient({ url: "ws://t/v1/ws", userId: "a", WebSocket: FakeSocket, clock, random: () => 0.5, activity: false });
    const states: string[] = [];
    c.on("state", (s) => states.push(s));
    const p = c.connect();
    await flush();
    FakeSocket.last().drop(1006);
    clock.advance(clock.nextDelay()!);
    await flush();
    FakeSocket.last().welcome();
    await expect(p).resolves.toMatchObject({ type: "welcome" });
    expect(states).toEqual(["connecting", "connected"]);
  });

  it("rejects with a PresenceError carrying the server's code", async () => {
    const { c, ws } = await start();
    const r = c.block("alice");
    ws.reply("block", { type: "error", code: "invalid_argument", message: "cannot block yourself" });
    const err = await r.catch((e) => e);
    expect(err).toBeInstanceOf(PresenceError);
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toBe("cannot block yourself");
  });

  it("sends requests made while disconnected after the restore, and resolves them", async () => {
    const { c, clock, ws } = await start();
    ws.drop(1006);
    const r = c.getPrivacy();
    clock.advance(clock.nextDelay()!);
    await flush();
    const ws2 = FakeSocket.last();
    ws2.welcome();
    expect(ws2.sent.map((m) => m.type)).toEqual(["set_online", "get_privacy"]);
    ws2.reply("get_privacy", { type: "privacy", visibility: "contacts", last_seen_visibility: "everyone", invisible: false });
    await expect(r).resolves.toEqual({ visibility: "contacts", last_seen_visibility: "everyone", invisible: false });
  });
});

describe("restore after a reconnect", () => {
  it("restores the session, the manual status, subscriptions and rooms with their meta", async () => {
    const { c, clock, ws } = await start();
    const st = c.setStatus("busy", { customStatus: "Focus", customEmoji: "🎧", activity: "focus", expiresAt: clock.now() / 1000 + 3600 });
    ws.reply("set_status", { type: "ack" });
    await st;
    const sub = c.subscribe(["bob", "carol"]);
    ws.reply("subscribe", { type: "initial_presence", presences: { bob: presence("bob", 5), carol: presence("carol", 3) } });
    await sub;
    const jr = c.joinRoom("doc:42", { mode: "viewing" });
    ws.reply("join_room", { type: "room_state", room: "doc:42", members: [{ user_id: "alice", joined_at: 1, connections: [] }], next: null, count: 1, v: 4 });
    const room = await jr;
    const um = room.updateMeta({ mode: "editing" });
    ws.reply("update_room_meta", { type: "ack" });
    await um;

    const seen: any[] = [];
    c.on("presence", (p) => seen.push([p.user_id, p.v]));
    const ws2 = await reconnect(clock, ws);
    const sent = ws2.take();
    expect(sent.map((m) => m.type)).toEqual(["set_online", "set_status", "subscribe", "join_room"]);
    expect(sent[1]).toMatchObject({ status: "busy", expires_at: 1_000_000 / 1000 + 3600 });
    expect(sent[1].custom_status).toBeUndefined();
    expect(sent[2].user_ids.sort()).toEqual(["bob", "carol"]);
    expect(sent[3]).toMatchObject({ room: "doc:42", meta: { mode: "editing" } });
    // The fresh snapshot merges by version: bob moved on, carol's is older than held.
    ws2.push({ type: "initial_presence", id: sent[2].id, presences: { bob: presence("bob", 9, { status: "away" }), carol: presence("carol", 2, { status: "offline" }) } });
    expect(seen).toEqual([["bob", 9]]);
    expect(c.get("bob")?.status).toBe("away");
    expect(c.get("carol")?.v).toBe(3);
    ws2.push({ type: "room_state", id: sent[3].id, room: "doc:42", members: [{ user_id: "alice", joined_at: 1, connections: [] }, { user_id: "bob", joined_at: 2, connections: [] }], next: null, count: 2, v: 8 });
    expect([...room.members.keys()]).toEqual(["alice", "bob"]);
    expect(room.count).toBe(2);
  });

  it("does not restore a manual status that has expired or was cleared", async () => {
    const { c, clock, ws } = await start();
    const st = c.setStatus("away", { expiresAt: clock.now() / 1000 + 10 });
    ws.reply("set_status", { type: "ack" });
    await st;
    clock.advance(11_000);
    let ws2 = await reconnect(clock, ws);
    expect(ws2.take().map((m) => m.type)).toEqual(["set_online"]);
    const busy = c.setStatus("busy");
    ws2.reply("set_status", { type: "ack" });
    const online = c.setStatus("online");
    ws2.reply("set_status", { type: "ack" });
    await Promise.all([busy, online]);
    ws2 = await reconnect(clock, ws2);
    expect(ws2.take().map((m) => m.type)).toEqual(["set_online"]);
  });

  it("does not resubscribe users it unsubscribed", async () => {
    const { c, clock, ws } = await start();
    const sub = c.subscribe(["bob", "carol"]);
    ws.reply("subscribe", { type: "initial_presence", presences: { bob: presence("bob", 1), carol: presence("carol", 1) } });
    await sub;
    void c.unsubscribe(["carol"]);
    expect(c.get("carol")).toBeUndefined();
    const ws2 = await reconnect(clock, ws);
    expect(ws2.take().find((m) => m.type === "subscribe").user_ids).toEqual(["bob"]);
  });

  it("sends a subscribe lost with its connection again", async () => {
    const { c, clock, ws } = await start();
    const sub = c.subscribe(["bob"]);
    const ws2 = await reconnect(clock, ws);
    ws2.reply("subscribe", { type: "initial_presence", presences: { bob: presence("bob", 2) } });
    await expect(sub).resolves.toEqual(new Map([["bob", expect.objectContaining({ v: 2 })]]));
    expect(ws2.sent.filter((m) => m.type === "subscribe")).toHaveLength(1);
  });
});

describe("heartbeats", () => {
  it("sends one per interval while nothing else is sent", async () => {
    const { clock, ws } = await start({}, { heartbeat_interval_ms: 1000 });
    ws.take();
    clock.advance(999);
    expect(ws.take()).toEqual([]);
    clock.advance(1);
    expect(ws.take()).toEqual([{ type: "heartbeat" }]);
    clock.advance(1000);
    expect(ws.take()).toEqual([{ type: "heartbeat" }]);
  });

  it("skips one when another frame was sent within the interval", async () => {
    const { c, clock, ws } = await start({}, { heartbeat_interval_ms: 1000 });
    clock.advance(600);
    void c.getPrivacy();
    ws.take();
    clock.advance(400);
    expect(ws.take()).toEqual([]);
    clock.advance(600);
    expect(ws.take()).toEqual([{ type: "heartbeat" }]);
  });

  it("sends none on a watcher connection", async () => {
    const { clock, ws } = await start({ autoOnline: false }, { heartbeat_interval_ms: 1000 });
    clock.advance(10_000);
    expect(ws.take()).toEqual([]);
  });

  it("stops with the connection", async () => {
    const { clock, ws } = await start({}, { heartbeat_interval_ms: 1000 });
    ws.drop(1000);
    expect(clock.timers.size).toBe(0);
  });
});

describe("ordering and the store", () => {
  it("drops stale and equal versions and notifies on change only", async () => {
    const { c, ws } = await start();
    const sub = c.subscribe(["bob"]);
    ws.reply("subscribe", { type: "initial_presence", presences: { bob: presence("bob", 5) } });
    await sub;
    const seen: number[] = [];
    let notified = 0;
    c.on("presence", (p) => seen.push(p.v));
    c.store.subscribe(() => notified++);
    const snap1 = c.store.getSnapshot();
    expect(c.store.getSnapshot()).toBe(snap1);
    ws.push({ type: "presence_update", presence: presence("bob", 4, { status: "offline" }) });
    ws.push({ type: "presence_update", presence: presence("bob", 5, { status: "offline" }) });
    expect(c.store.getSnapshot()).toBe(snap1);
    ws.push({ type: "presence_update", presence: presence("bob", 7, { status: "busy" }) });
    ws.push({ type: "presence_update", presence: presence("bob", 6, { status: "away" }) });
    expect(seen).toEqual([7]);
    expect(notified).toBe(1);
    const snap2 = c.store.getSnapshot();
    expect(snap2).not.toBe(snap1);
    expect(snap2.get("bob")?.status).toBe("busy");
    expect(c.get("bob")?.status).toBe("busy");
  });
});

describe("errors pushed without a request", () => {
  it("reach on('error')", async () => {
    const { c, ws } = await start();
    const errs: string[] = [];
    c.on("error", (e) => errs.push(e.code));
    ws.push({ type: "error", code: "unavailable", message: "store down" });
    expect(errs).toEqual(["unavailable"]);
  });
});

describe("subscriptions", () => {
  it("drops a snapshot or push for a user unsubscribed while it was on its way", async () => {
    const { c, ws } = await start();
    const sub = c.subscribe(["bob", "carol"]);
    void c.unsubscribe(["carol"]);
    ws.reply("subscribe", { type: "initial_presence", presences: { bob: presence("bob", 1), carol: presence("carol", 1) } });
    const snap = await sub;
    expect([...snap.keys()]).toEqual(["bob"]);
    ws.push({ type: "presence_update", presence: presence("carol", 2) });
    expect(c.get("carol")).toBeUndefined();
    expect([...c.store.getSnapshot().keys()]).toEqual(["bob"]);
  });

  it("does not watch refused ids, nor restore them", async () => {
    const { c, clock, ws } = await start();
    const sub = c.subscribe(["bob"]);
    ws.reply("subscribe", { type: "error", code: "limit_exceeded", message: "too many" });
    await expect(sub).rejects.toMatchObject({ code: "limit_exceeded" });
    const ws2 = await reconnect(clock, ws);
    expect(ws2.take().map((m) => m.type)).toEqual(["set_online"]);
  });
});
