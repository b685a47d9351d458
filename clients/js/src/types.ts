// Wire shapes of docs/protocol.md, as the SDK reads them. Unknown fields are
// kept (the protocol only ever adds them), so they are typed loosely.

/** A user's presence as the server shows it to this connection. */
export interface Presence {
  user_id: string;
  status: "online" | "away" | "busy" | "offline";
  activity: string | null;
  activity_expires_at: number | null;
  custom_status: string | null;
  custom_emoji: string | null;
  custom_status_expires_at: number | null;
  last_seen: number | null;
  device: string | null;
  devices: { device: string; idle: boolean }[] | null;
  idle: boolean;
  /** The user's version: a lower one is stale. */
  v: number;
  /** Only in a user's own view of themselves, and only when true. */
  invisible?: boolean;
  [key: string]: unknown;
}

/** One connection of a room member. */
export interface RoomConnection {
  session_id: string;
  device: string;
  meta: Record<string, unknown>;
}

/** A room member: a user with at least one connection in the room. */
export interface RoomMember {
  user_id: string;
  joined_at: number;
  connections: RoomConnection[];
}

/** The welcome, the first message of every connection. */
export interface Welcome {
  type: "welcome";
  user_id: string;
  session_id: string;
  heartbeat_interval_ms: number;
  heartbeat_ttl_ms: number;
  offline_grace_ms: number;
  max_message_bytes: number;
}

/** The privacy settings in effect. */
export interface Privacy {
  visibility: "everyone" | "contacts" | "nobody";
  last_seen_visibility: "everyone" | "contacts" | "nobody";
  invisible: boolean;
}

/** A server message; every type has `type`, the rest depends on it. */
export interface ServerMessage {
  type: string;
  id?: unknown;
  [key: string]: any;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

export type ManualStatus = "online" | "away" | "busy" | "invisible";

/** Optional fields of setStatus; absent ones are left unchanged, "" clears. */
export interface StatusOptions {
  customStatus?: string;
  customEmoji?: string;
  activity?: string;
  /** Unix seconds: applies to every field this call sets. */
  expiresAt?: number;
  activityExpiresAt?: number;
  customStatusExpiresAt?: number;
}

/** Timers and time, injectable so tests drive them. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of the WebSocket interface the client uses. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = new (url: string) => SocketLike;
