import { describe, expect, it } from "vitest";
import { openUser, until, useEnv } from "./pages.js";

// The server killed with SIGKILL and started again on the same address and
// data directory, inside the offline grace: both pages recover by themselves.
const env = useEnv(["--dev", "--offline-grace", "10s"]);

/** setup opens two users who watch each other and share a room, then restarts the server. */
async function restartWithTwo(tag: string) {
  const a = `${tag}-alice`;
  const b = `${tag}-bob`;
  const room = `doc:${tag}`;
  const pa = await openUser(env.browser, env.server.http, a);
  const pb = await openUser(env.browser, env.server.http, b);
  env.pages.push(pa, pb);
  await pa.evaluate(`window.pc.setStatus("busy")`);
  for (const [p, other] of [[pa, b], [pb, a]] as const) {
    await p.evaluate(`(async () => {
      await window.pc.subscribe([${JSON.stringify(other)}]);
      window.room = await window.pc.joinRoom(${JSON.stringify(room)}, { mode: "viewing" });
    })()`);
  }
  await until(pb, "pc.get(arg)?.status === 'busy'", a);
  await until(pa, "pc.get(arg)?.status === 'online' && window.room.members.size === 2", b);
  // From here on, what each page saw of the other is what counts.
  await pa.evaluate(`window.seen = []`);
  await pb.evaluate(`window.seen = []`);

  await env.server.kill("SIGKILL");
  await until(pa, "pc.state === 'reconnecting'");
  await until(pb, "pc.state === 'reconnecting'");
  env.server = await env.server.restart();
  await until(pa, "pc.state === 'connected'", null, 30_000);
  await until(pb, "pc.state === 'connected'", null, 30_000);
  return { a, b, pa, pb };
}

describe("a server restart seen from two browsers", () => {
  it("is recovered from by both pages: subscriptions and rooms restored", async () => {
    const { a, b, pa, pb } = await restartWithTwo("rs1");
    await until(pa, "window.room.members.size === 2 && window.room.count === 2", null, 15_000);
    await until(pb, "window.room.members.size === 2 && window.room.count === 2", null, 15_000);
    // The manual status came back with the session.
    await until(pb, "pc.get(arg)?.status === 'busy'", a, 15_000);
    // Subscriptions deliver after the restart, both ways.
    await pa.evaluate(`window.pc.setStatus("online", { customStatus: "back" })`);
    await until(pb, "pc.get(arg)?.status === 'online' && pc.get(arg)?.custom_status === 'back'", a);
    await pb.evaluate(`window.pc.setStatus("away")`);
    await until(pa, "pc.get(arg)?.status === 'away'", b);
    await pb.evaluate(`window.room.updateMeta({ mode: "editing" })`);
    await until(pa, "window.room.members.get(arg)?.connections.some((c) => c.meta.mode === 'editing')", b);
    const states = await pa.evaluate(`window.states`);
    expect(states).toEqual(["connecting", "connected", "reconnecting", "connected"]);
  });

  // The server keeps the previous run's sessions in their grace from its
  // start, and a device that comes back merges with its session: nobody
  // sees anyone leave. Once the grace (10 s) has passed on the server, each
  // user changes status: those updates travel on the same topic as any
  // offline would have, so an offline sent before them is already seen.
  it("shows no offline flap to the other page across a restart inside the grace", async () => {
    const { a, b, pa, pb } = await restartWithTwo("rs2");
    const restarted = Date.now();
    await until(pa, "window.room.members.size === 2", null, 15_000);
    await until(pb, "window.room.members.size === 2", null, 15_000);
    await new Promise((r) => setTimeout(r, Math.max(0, restarted + 11_000 - Date.now())));
    await pa.evaluate(`window.pc.setStatus("away", { customStatus: "after the grace" })`);
    await pb.evaluate(`window.pc.setStatus("away", { customStatus: "after the grace" })`);
    await until(pb, "pc.get(arg)?.custom_status === 'after the grace'", a);
    await until(pa, "pc.get(arg)?.custom_status === 'after the grace'", b);
    const seenByB = (await pb.evaluate(`window.seen`)) as { user_id: string; status: string }[];
    const seenByA = (await pa.evaluate(`window.seen`)) as { user_id: string; status: string }[];
    expect(seenByB.filter((p) => p.user_id === a && p.status === "offline")).toEqual([]);
    expect(seenByA.filter((p) => p.user_id === b && p.status === "offline")).toEqual([]);
  });
});
