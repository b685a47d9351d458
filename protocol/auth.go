package protocol

// TypeRefreshToken replaces an open connection's token with a fresh one of
// the same user, so the connection outlives the token it was opened with.
// Its reply is an ack (when the message has an id) or an error.
const TypeRefreshToken = "refresh_token"
