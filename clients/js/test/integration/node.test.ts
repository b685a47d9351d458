import { createHmac } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PresenceClient, PresenceError, type ClientOptions, type Presence } from "../../src/index.js";
import { Server, waitFor } from "../support/server.js";

let server: Server;
const clients: PresenceClient[] = [];

beforeAll(async () => {
  server = await Server.start({ args: ["--dev", "--offline-grace", "3s"] });
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(userId: string, o: Partial<ClientOptions> = {}): PresenceClient {
  const c = new PresenceClient({ url: server.ws, userId, device: "node", WebSocket: WebSocket as any, ...o });
  clients.push(c);
  return c;
}

let n = 0;
const uniq = (name: string) => `${name}-${++n}-${Date.now() % 100000}`;

describe("against a real presenced", () => {
  it("shows a status set by one client to another, in version order", async () => {
    const alice = uniq("alice");
    const a = client(alice);
    const b = client(uniq("bob"), { autoOnline: false });
    await Promise.all([a.connect(), b.connect()]);
    const snap = await b.subscribe([alice]);
    await waitFor(() => b.get(alice)?.status === "online", 5000, "alice online");
    expect(snap.get(alice)?.user_id).toBe(alice);
    const seen: Presence[] = [];
    b.on("presence", (p) => seen.push(p));
    await a.setStatus("busy", { customStatus: "Focus", customEmoji: "🎧", activity: "focus" });
    await waitFor(() => b.get(alice)?.status === "busy" && b.get(alice)?.custom_status === "Focus", 5000, "busy seen");
    expect(b.get(alice)).toMatchObject({ activity: "focus", custom_emoji: "🎧" });
    for (let i = 1; i < seen.length; i++) expect(seen[i].v).toBeGreaterThan(seen[i - 1].v);
    expect(b.store.getSnapshot().get(alice)?.status).toBe("busy");
    await a.setStatus("invisible");
    await waitFor(() => b.get(alice)?.status === "offline", 5000, "invisible seen as offline");
    await a.setStatus("online");
    await waitFor(() => b.get(alice)?.status === "online", 5000, "visible again");
    await b.unsubscribe([alice]);
    expect(b.get(alice)).toBeUndefined();
  });

  it("reports idle from activity detection as away", async () => {
    const alice = uniq("alice");
    const page = { window: new EventTarget(), document: Object.assign(new EventTarget(), { visibilityState: "visible" }) };
    const a = client(alice, { activity: page, idleAfterMs: 300 });
    const b = client(uniq("bob"), { autoOnline: false });
    await Promise.all([a.connect(), b.connect()]);
    await b.subscribe([alice]);
    await waitFor(() => b.get(alice)?.status === "away" && b.get(alice)?.idle === true, 5000, "idle away");
    page.window.dispatchEvent(new Event("keydown"));
    await waitFor(() => b.get(alice)?.status === "online", 5000, "back online");
  });

  it("reads and sets privacy, and a block hides the blocker", async () => {
    const alice = uniq("alice");
    const bob = uniq("bob");
    const a = client(alice);
    const b = client(bob);
    await Promise.all([a.connect(), b.connect()]);
    expect(await a.setPrivacy({ last_seen_visibility: "nobody" })).toMatchObject({ last_seen_visibility: "nobody" });
    expect((await a.getPrivacy()).last_seen_visibility).toBe("nobody");
    await b.subscribe([alice]);
    await waitFor(() => b.get(alice)?.status === "online", 5000, "online");
    await a.block(bob);
    await waitFor(() => b.get(alice)?.status === "offline", 5000, "blocked shows offline");
    await a.unblock(bob);
    await waitFor(() => b.get(alice)?.status === "online", 5000, "unblocked");
    const err = await a.block(alice).catch((e) => e);
    expect(err).toBeInstanceOf(PresenceError);
    expect(err.code).toBe("invalid_argument");
  });

  it("keeps a room's members, meta and cursors live", async () => {
    const alice = uniq("alice");
    const bob = uniq("bob");
    const a = client(alice);
    const b = client(bob);
    await Promise.all([a.connect(), b.connect()]);
    const name = uniq("doc:");
    const ra = await a.joinRoom(name, { mode: "viewing" });
    const rb = await b.joinRoom(name, { mode: "viewing" });
    expect([...rb.members.keys()].sort()).toEqual([alice, bob].sort());
    await waitFor(() => ra.members.has(bob) && ra.count === 2, 5000, "bob's join");
    await rb.updateMeta({ mode: "editing" });
    await waitFor(() => ra.members.get(bob)?.connections[0].meta.mode === "editing", 5000, "meta update");
    const cursors: unknown[] = [];
    ra.on("cursor", (c) => cursors.push(c.cursor));
    for (let i = 0; i <= 20; i++) rb.sendCursor({ x: i, y: 0 });
    await waitFor(() => JSON.stringify(cursors.at(-1)) === JSON.stringify({ x: 20, y: 0 }), 5000, "last cursor");
    expect(cursors.length).toBeLessThan(21);
    await rb.leave();
    await waitFor(() => !ra.members.has(bob) && ra.count === 1, 5000, "bob's leave");
    const err = await a.joinRoom("bad*name").catch((e) => e);
    expect(err).toMatchObject({ code: "invalid_argument" });
    expect(a.room("bad*name")).toBeUndefined();
  });

  it("paces a burst under the server's rate limit instead of being refused", async () => {
    const a = client(uniq("alice"));
    await a.connect();
    const errors: string[] = [];
    a.on("error", (e) => errors.push(e.code));
    const started = Date.now();
    // 90 requests at once: past the server's burst of 50 at 20 a second.
    const replies = await Promise.allSettled(Array.from({ length: 90 }, () => a.getPrivacy()));
    expect(replies.filter((r) => r.status === "rejected")).toEqual([]);
    expect(errors).toEqual([]);
    expect(Date.now() - started).toBeGreaterThan(1500);
  });

  it("stops for good when the server's API disconnects the user (4003)", async () => {
    const alice = uniq("alice");
    const a = client(alice);
    const states: string[] = [];
    a.on("state", (s) => states.push(s));
    await a.connect();
    const r = await fetch(`${server.http}/v1/presence/${alice}/sessions`, { method: "DELETE", headers: { Authorization: "Bearer dev-api-key" } });
    expect(r.status).toBe(204);
    await waitFor(() => a.state === "closed", 5000, "closed");
    expect(states).toEqual(["connecting", "connected", "closed"]);
  });
});

describe("the demo switch", () => {
  it("serves the demo at / with PRESENCED_DEMO on a server that needs tokens, and the SDK always", async () => {
    const plain = await Server.start({ args: ["--jwt-secret", "a-secret-of-enough-length-0123"] });
    const demo = await Server.start({ args: ["--jwt-secret", "a-secret-of-enough-length-0123"], env: { PRESENCED_DEMO: "true" } });
    try {
      expect((await fetch(`${plain.http}/`)).status).toBe(404);
      expect((await fetch(`${plain.http}/sdk/presenced.js`)).status).toBe(200);
      const page = await fetch(`${demo.http}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("/demo/app.js");
    } finally {
      await Promise.all([plain.stop(), demo.stop()]);
    }
  });
});

describe("tokens", () => {
  const secret = "integration-secret-of-enough-length-0123456789";
  let jwtServer: Server;
  beforeAll(async () => {
    jwtServer = await Server.start({ args: ["--jwt-secret", secret] });
  });
  afterAll(async () => {
    await jwtServer?.stop();
  });

  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  function jwt(sub: string, ttlSec: number): string {
    const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, exp: Math.floor(Date.now() / 1000) + ttlSec, rooms: ["*"] });
    return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
  }

  it("gets a fresh token after 4100 and carries on", async () => {
    const alice = uniq("alice");
    let calls = 0;
    const a = new PresenceClient({ url: jwtServer.ws, WebSocket: WebSocket as any, token: () => (++calls === 1 ? jwt(alice, 2) : jwt(alice, 3600)) });
    clients.push(a);
    const sessions: string[] = [];
    a.on("welcome", (w) => sessions.push(w.session_id));
    await a.connect();
    await waitFor(() => sessions.length === 2, 15_000, "a second welcome after the token expired");
    expect(calls).toBe(2);
    expect(a.state).toBe("connected");
  });

  it("stops after 4100 with a fixed token", async () => {
    const a = new PresenceClient({ url: jwtServer.ws, WebSocket: WebSocket as any, token: jwt(uniq("alice"), 2) });
    clients.push(a);
    await a.connect();
    await waitFor(() => a.state === "closed", 15_000, "closed after expiry");
  });
});
