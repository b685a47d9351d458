export { PresenceClient } from "./client.js";
export type { ClientOptions, ClientEvents } from "./client.js";
export { PresenceError } from "./errors.js";
export { Room } from "./room.js";
export type { RoomEvents, CursorEvent } from "./room.js";
export { PresenceStore } from "./store.js";
export type { ActivityTargets } from "./activity.js";
export type * from "./types.js";
