import { PresenceClient, type ClientOptions } from "../../src/index.js";
import { FakeClock, FakeSocket, flush } from "./fakes.js";

/** start makes a client on a fake socket and clock and takes it to its first welcome. */
export async function start(opts: Partial<ClientOptions> = {}, welcome: Record<string, unknown> = {}) {
  FakeSocket.all = [];
  const clock = new FakeClock();
  const c = new PresenceClient({
    url: "ws://test/v1/ws", userId: "alice", device: "web",
    WebSocket: FakeSocket, clock, random: () => 0.5, activity: false, ...opts,
  });
  const states: string[] = [];
  c.on("state", (s) => states.push(s));
  const connected = c.connect();
  await flush();
  const ws = FakeSocket.last();
  ws.welcome(welcome);
  await connected;
  return { c, clock, ws, states };
}

/** reconnect drops the socket with code, runs the backoff and welcomes the next one. */
export async function reconnect(clock: FakeClock, ws: FakeSocket, code = 1006): Promise<FakeSocket> {
  ws.drop(code);
  clock.advance(clock.nextDelay() ?? 0);
  await flush();
  const next = FakeSocket.last();
  if (next === ws) throw new Error("no new socket");
  next.welcome();
  return next;
}
