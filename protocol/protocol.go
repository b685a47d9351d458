// Package protocol holds the WebSocket wire messages of presenced, shared by
// the server's gateway and the Go client. The names and shapes here are a
// fixed contract: fields and types are added, never renamed or removed.
package protocol

import "encoding/json"

// Client → server message types.
const (
	TypeSetOnline   = "set_online"
	TypeHeartbeat   = "heartbeat"
	TypeSetStatus   = "set_status"
	TypeIdleState   = "idle_state"
	TypeSetOffline  = "set_offline"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeGetPresence = "get_presence"
	TypePing        = "ping"
	TypeSetPrivacy  = "set_privacy"
	TypeGetPrivacy  = "get_privacy"
	TypeBlock       = "block"
	TypeUnblock     = "unblock"
)

// Server → client message types.
const (
	TypeWelcome         = "welcome"
	TypeInitialPresence = "initial_presence"
	TypePresenceUpdate  = "presence_update"
	TypePresence        = "presence"
	TypeError           = "error"
	TypeAck             = "ack"
	TypePong            = "pong"
	TypePrivacy         = "privacy"
)

// ClientMessage is any message a client sends; Type says which fields apply.
// Pointer fields distinguish absent or null (leave unchanged) from empty
// (clear).
type ClientMessage struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id,omitempty"`

	Device string `json:"device,omitempty"`

	// set_status
	Status                *string  `json:"status,omitempty"`
	CustomStatus          *string  `json:"custom_status,omitempty"`
	CustomEmoji           *string  `json:"custom_emoji,omitempty"`
	Activity              *string  `json:"activity,omitempty"`
	ExpiresAt             *float64 `json:"expires_at,omitempty"`
	ActivityExpiresAt     *float64 `json:"activity_expires_at,omitempty"`
	CustomStatusExpiresAt *float64 `json:"custom_status_expires_at,omitempty"`

	// idle_state
	Idle *bool `json:"idle,omitempty"`

	// subscribe, unsubscribe, get_presence
	UserIDs []string `json:"user_ids,omitempty"`

	// set_privacy
	Visibility         *string `json:"visibility,omitempty"`
	LastSeenVisibility *string `json:"last_seen_visibility,omitempty"`
	Invisible          *bool   `json:"invisible,omitempty"`

	// block, unblock
	UserID string `json:"user_id,omitempty"`

	// refresh_token
	Token string `json:"token,omitempty"`

	RoomFields
}

// Privacy is the reply to set_privacy and get_privacy: the user's
// settings in effect. The HTTP API's privacy body has the same fields.
type Privacy struct {
	Type               string          `json:"type,omitempty"`
	ID                 json.RawMessage `json:"id,omitempty"`
	Visibility         string          `json:"visibility"`
	LastSeenVisibility string          `json:"last_seen_visibility"`
	Invisible          bool            `json:"invisible"`
}

// Welcome is the first message on every connection.
type Welcome struct {
	Type                string `json:"type"`
	UserID              string `json:"user_id"`
	SessionID           string `json:"session_id"`
	HeartbeatIntervalMS int64  `json:"heartbeat_interval_ms"`
	HeartbeatTTLMS      int64  `json:"heartbeat_ttl_ms"`
	OfflineGraceMS      int64  `json:"offline_grace_ms"`
	MaxMessageBytes     int    `json:"max_message_bytes"`
}

// Error reports a request the server refused. Code is stable; Message is
// for people.
type Error struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// Ack answers a request that carried an id and has no other reply.
type Ack struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id,omitempty"`
}

// ServerMessage is any message the server sends, for decoding on the client.
type ServerMessage struct {
	Type      string                     `json:"type"`
	ID        json.RawMessage            `json:"id,omitempty"`
	UserID    string                     `json:"user_id,omitempty"`
	SessionID string                     `json:"session_id,omitempty"`
	Presence  json.RawMessage            `json:"presence,omitempty"`
	Presences map[string]json.RawMessage `json:"presences,omitempty"`
	Code      string                     `json:"code,omitempty"`
	Message   string                     `json:"message,omitempty"`

	Visibility         string `json:"visibility,omitempty"`
	LastSeenVisibility string `json:"last_seen_visibility,omitempty"`
	Invisible          bool   `json:"invisible,omitempty"`

	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms,omitempty"`
	HeartbeatTTLMS      int64 `json:"heartbeat_ttl_ms,omitempty"`
	OfflineGraceMS      int64 `json:"offline_grace_ms,omitempty"`
}

// Request and id limits.
const (
	// MaxIDsPerRequest bounds the user ids in one subscribe, unsubscribe,
	// get_presence or bulk read.
	MaxIDsPerRequest = 1000
	// MaxRequestIDBytes bounds a request's id, echoed in its reply.
	MaxRequestIDBytes = 128
)

// WebSocket close codes. Codes below 4100 mean "reconnect (with backoff)";
// 4100 and up are final: reconnecting the same way will fail again.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	ClosePolicy         = 1008
	CloseTooBig         = 1009
	CloseInternal       = 1011
	CloseServiceRestart = 1012
	CloseTryAgainLater  = 1013
	// CloseSlowConsumer: the client read too slowly; reconnect and resync.
	CloseSlowConsumer = 4000
	// CloseExpired: no sign of life within the TTL; reconnect.
	CloseExpired = 4001
	// CloseRateLimited: the client kept sending above its rate; reconnect later.
	CloseRateLimited = 4002
	// CloseKicked: the server's API disconnected this user.
	CloseKicked = 4003
	// CloseUnavailable: the backing store is unavailable; reconnect later.
	CloseUnavailable = 4004
	// CloseAuthExpired: the token expired; get a new one before reconnecting.
	CloseAuthExpired = 4100
)
