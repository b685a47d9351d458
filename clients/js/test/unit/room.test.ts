import { afterEach, describe, expect, it } from "vitest";
import type { Room } from "../../src/index.js";
import { FakeSocket, flush } from "./fakes.js";
import { start } from "./setup.js";

afterEach(() => {
  FakeSocket.all = [];
});

const member = (user_id: string, mode = "viewing") => ({ user_id, joined_at: 1, connections: [{ session_id: "s-" + user_id, device: "web", meta: { mode } }] });

async function joined(state: Record<string, unknown> = {}) {
  const env = await start({}, { heartbeat_interval_ms: 0 });
  const jr = env.c.joinRoom("doc:1", { mode: "viewing" });
  env.ws.reply("join_room", { type: "room_state", room: "doc:1", members: [member("alice"), member("bob")], next: null, count: 2, v: 10, ...state });
  const room = await jr;
  const events: string[] = [];
  for (const e of ["join", "update", "leave"] as const) room.on(e, (x: any) => events.push(`${e}:${typeof x === "string" ? x : x.user_id}`));
  const first = env.ws.take();
  return { ...env, room, events, first };
}

const ids = (r: Room) => [...r.members.keys()].sort();

describe("rooms", () => {
  it("keeps members current by per-member version and drops stale events", async () => {
    const { room, ws, events } = await joined();
    let changes = 0;
    room.on("change", () => changes++);
    ws.push({ type: "room_join", room: "doc:1", member: member("carol"), count: 3, v: 11 });
    ws.push({ type: "room_update", room: "doc:1", member: member("bob", "editing"), count: 3, v: 13 });
    ws.push({ type: "room_update", room: "doc:1", member: member("bob", "viewing"), count: 3, v: 12 }); // stale
    ws.push({ type: "room_leave", room: "doc:1", user_id: "alice", count: 2, v: 10 }); // not above the state's
    ws.push({ type: "room_update", room: "doc:1", member: member("dave"), count: 4, v: 14 }); // unknown: a join
    ws.push({ type: "room_leave", room: "doc:1", user_id: "carol", count: 3, v: 15 });
    ws.push({ type: "room_join", room: "other", member: member("eve"), count: 1, v: 99 }); // another room
    expect(events).toEqual(["join:carol", "update:bob", "join:dave", "leave:carol"]);
    expect(ids(room)).toEqual(["alice", "bob", "dave"]);
    expect(room.members.get("bob")!.connections[0].meta.mode).toBe("editing");
    expect(room.count).toBe(3);
    expect(room.v).toBe(15);
    expect(changes).toBe(4);
  });

  it("skips malformed members instead of failing", async () => {
    const { room, ws, events } = await joined({ members: [null, 7, { user_id: 3 }, member("alice")] });
    expect(ids(room)).toEqual(["alice"]);
    ws.push({ type: "room_join", room: "doc:1", member: { user_id: "x" }, count: 2, v: 11 });
    ws.push({ type: "room_join", room: "doc:1", member: null, count: 2, v: 11 });
    expect(ids(room)).toEqual(["alice"]);
    expect(events).toEqual([]);
  });

  it("pages a room_state through room_members to the end", async () => {
    const { room, ws, first } = await joined({ members: [member("a1")], next: "a1", count: 3, v: 20 });
    const page1 = first.find((m) => m.type === "room_members");
    expect(page1).toMatchObject({ room: "doc:1", after: "a1", limit: 1000 });
    // A leave that arrives while paging is not undone by the older page.
    ws.push({ type: "room_leave", room: "doc:1", user_id: "a3", count: 2, v: 21 });
    ws.push({ type: "room_members", id: page1.id, room: "doc:1", members: [member("a2"), member("a3")], next: "a3", count: 3, v: 20 });
    await flush();
    const page2 = ws.take().find((m) => m.type === "room_members");
    expect(page2.after).toBe("a3");
    ws.push({ type: "room_members", id: page2.id, room: "doc:1", members: [member("a4")], next: null, count: 3, v: 21 });
    await flush();
    expect(ids(room)).toEqual(["a1", "a2", "a4"]);
    expect(ws.take().filter((m) => m.type === "room_members")).toEqual([]);
  });

  it("applies a room_summary's leaves and re-reads for joins and updates", async () => {
    const { room, ws, events } = await joined();
    ws.push({ type: "room_summary", room: "doc:1", joined: ["carol"], left: ["alice"], updated: [], truncated: false, count: 2, v: 30 });
    expect(ids(room)).toEqual(["bob"]);
    const read = ws.take().find((m) => m.type === "room_members");
    expect(read.after).toBeUndefined();
    ws.push({ type: "room_members", id: read.id, room: "doc:1", members: [member("bob", "editing"), member("carol")], next: null, count: 2, v: 30 });
    await flush();
    expect(ids(room)).toEqual(["bob", "carol"]);
    expect(events).toEqual(["leave:alice", "update:bob", "join:carol"]);
  });

  it("throttles cursors to the server's rate and always sends the last", async () => {
    const { room, ws, clock } = await joined();
    for (let i = 0; i < 10; i++) {
      room.sendCursor({ x: i, y: i });
      clock.advance(3);
    }
    let sent = ws.take().filter((m) => m.type === "cursor");
    expect(sent.map((m) => m.cursor.x)).toEqual([0]);
    clock.advance(34);
    sent = ws.take().filter((m) => m.type === "cursor");
    expect(sent.map((m) => m.cursor.x)).toEqual([9]);
    // 100 cursors over one second: no more than 30 go out.
    for (let i = 0; i < 100; i++) {
      room.sendCursor({ x: i, y: 0 });
      clock.advance(10);
    }
    clock.advance(100);
    sent = ws.take().filter((m) => m.type === "cursor");
    expect(sent.length).toBeLessThanOrEqual(31);
    expect(sent.at(-1).cursor.x).toBe(99);
  });

  it("passes others' cursors on", async () => {
    const { room, ws } = await joined();
    const got: any[] = [];
    room.on("cursor", (c) => got.push(c));
    ws.push({ type: "cursor", room: "doc:1", user_id: "bob", session_id: "s-bob", cursor: { x: 1, y: 2 } });
    expect(got).toEqual([{ user_id: "bob", session_id: "s-bob", cursor: { x: 1, y: 2 } }]);
  });

  it("releases timers, members and listeners on leave", async () => {
    const { c, room, ws, clock } = await joined();
    room.sendCursor({ x: 1 });
    room.sendCursor({ x: 2 });
    ws.take();
    const left = room.leave();
    ws.reply("leave_room", { type: "ack" });
    await left;
    expect(room.members.size).toBe(0);
    expect(room.listenerCount()).toBe(0);
    expect(c.room("doc:1")).toBeUndefined();
    clock.advance(1000);
    expect(ws.take().filter((m) => m.type === "cursor")).toEqual([]);
    // Joining again is allowed.
    const again = c.joinRoom("doc:1");
    ws.reply("join_room", { type: "room_state", room: "doc:1", members: [], next: null, count: 0, v: 40 });
    await expect(again).resolves.toBeDefined();
  });

  it("joins again with the latest meta, and a refused rejoin reports on the room", async () => {
    const { c, room, ws, clock } = await joined();
    const errs: string[] = [];
    room.on("error", (e) => errs.push(e.code));
    ws.drop(1006);
    clock.advance(clock.nextDelay()!);
    await flush();
    const ws2 = FakeSocket.last();
    ws2.welcome();
    ws2.reply("join_room", { type: "error", code: "forbidden", message: "no" });
    await flush();
    expect(errs).toEqual(["forbidden"]);
    expect(c.room("doc:1")).toBeUndefined();
  });
});

describe("no memory growth", () => {
  it("releases every timer, listener, room and presence on close", async () => {
    const { c, room, ws, clock } = await joined();
    const unsub = c.store.subscribe(() => {});
    c.on("presence", () => {});
    room.sendCursor({ x: 1 });
    room.sendCursor({ x: 2 });
    const r = c.subscribe(["bob"]);
    ws.reply("subscribe", { type: "initial_presence", presences: { bob: { user_id: "bob", v: 1, status: "online" } } });
    await r;
    c.close();
    expect(clock.timers.size).toBe(0);
    expect(c.listenerCount()).toBe(0);
    expect(room.listenerCount()).toBe(0);
    expect(room.members.size).toBe(0);
    expect(c.store.listenerCount()).toBe(0);
    expect(c.store.getSnapshot().size).toBe(0);
    unsub();
    await expect(c.connect()).rejects.toMatchObject({ code: "closed" });
  });

  it("holds nothing more after many reconnects", async () => {
    const { c, ws, clock } = await joined();
    let cur = ws;
    for (let i = 0; i < 50; i++) {
      cur.drop(1012);
      clock.advance(clock.nextDelay()!);
      await flush();
      cur = FakeSocket.last();
      cur.welcome();
      cur.reply("join_room", { type: "room_state", room: "doc:1", members: [member("alice")], next: null, count: 1, v: 100 + i });
      cur.reply("set_online", { type: "ack" });
    }
    expect(clock.timers.size).toBe(1); // the heartbeat, and nothing left by earlier connections
    expect((c as any).requests.waiting()).toEqual([]);
  });
});
