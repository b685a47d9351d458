import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PresenceClient } from "../../src/index.js";
import { Server, waitFor } from "../support/server.js";

// The server killed with SIGKILL and started again on the same address and
// data directory: clients come back by themselves and restore what they had.
describe("a server restart", () => {
  let server: Server;
  beforeAll(async () => {
    server = await Server.start({ args: ["--dev", "--offline-grace", "5s"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("is recovered from without the application doing anything", async () => {
    const mk = (userId: string) => new PresenceClient({ url: server.ws, userId, device: "node", WebSocket: WebSocket as any, backoffCapMs: 2000 });
    const a = mk("restart-alice");
    const b = mk("restart-bob");
    try {
      const states: string[] = [];
      b.on("state", (s) => states.push(s));
      await Promise.all([a.connect(), b.connect()]);
      await a.setStatus("busy");
      await b.subscribe(["restart-alice"]);
      const ra = await a.joinRoom("doc:restart", { mode: "editing" });
      const rb = await b.joinRoom("doc:restart", { mode: "viewing" });
      await waitFor(() => b.get("restart-alice")?.status === "busy" && ra.members.size === 2, 5000, "setup");

      await server.kill("SIGKILL");
      await waitFor(() => a.state === "reconnecting" && b.state === "reconnecting", 5000, "both reconnecting");
      server = await server.restart();
      await waitFor(() => a.state === "connected" && b.state === "connected", 20_000, "both back");
      await waitFor(() => ra.members.size === 2 && rb.members.size === 2, 10_000, "rooms restored");
      expect(rb.members.get("restart-alice")?.connections.some((c) => c.meta.mode === "editing")).toBe(true);
      // The subscription works after the restart: a change is seen.
      await a.setStatus("away");
      await waitFor(() => b.get("restart-alice")?.status === "away", 5000, "update after restart");
      await a.setStatus("online");
      await waitFor(() => b.get("restart-alice")?.status === "online", 5000, "online after restart");
      expect(states.slice(0, 3)).toEqual(["connecting", "connected", "reconnecting"]);
      expect(states.at(-1)).toBe("connected");
    } finally {
      a.close();
      b.close();
    }
  });
});
