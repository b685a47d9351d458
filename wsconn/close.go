package wsconn

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// WebSocket close codes used by presenced (RFC 6455 section 7.4 and the IANA
// registry, plus one private 4xxx code).
//
// Each code says whether a client should reconnect on its own ("reconnect",
// always with backoff and jitter) or treat the close as final until the user
// or the application changes something ("final"). [ShouldReconnect] encodes
// the same table.
const (
	// CloseNormal (1000): the session ended on purpose (logout, replaced by
	// a newer session). Final.
	CloseNormal = 1000
	// CloseGoingAway (1001): the endpoint is going away (browser tab closed,
	// server node removed). Reconnect.
	CloseGoingAway = 1001
	// CloseProtocolError (1002): the peer broke the WebSocket protocol.
	// Final: reconnecting with the same client would fail again.
	CloseProtocolError = 1002
	// CloseUnsupportedData (1003): the peer sent a binary message; presenced
	// speaks text only. Final.
	CloseUnsupportedData = 1003
	// CloseInvalidPayload (1007): the peer sent a text message that is not
	// valid UTF-8. Final.
	CloseInvalidPayload = 1007
	// ClosePolicyViolation (1008): the peer broke an application rule
	// (authentication failed or expired, forbidden request). Final.
	ClosePolicyViolation = 1008
	// CloseMessageTooBig (1009): the peer sent a frame or message larger than
	// Config.MaxMessageBytes. Final.
	CloseMessageTooBig = 1009
	// CloseInternalError (1011): the server hit an unexpected condition (for
	// example a panic in a Handler). Reconnect.
	CloseInternalError = 1011
	// CloseServiceRestart (1012): the server is restarting or shutting down;
	// sent by [Server.Shutdown]. Reconnect (possibly to another instance).
	CloseServiceRestart = 1012
	// CloseTryAgainLater (1013): the server is overloaded. Reconnect, with a
	// longer backoff.
	CloseTryAgainLater = 1013
	// CloseSlowConsumer (4000, private range): the peer did not read fast
	// enough and more than Config.MaxPendingBytes piled up for it; messages
	// were dropped. Reconnect and resynchronise state, because updates were
	// lost.
	CloseSlowConsumer = 4000
)

// ShouldReconnect reports whether a client that received close code code
// should reconnect on its own (with backoff) rather than treat the close as
// final. Unknown codes are treated as final.
func ShouldReconnect(code int) bool {
	switch code {
	case CloseGoingAway, CloseInternalError, CloseServiceRestart, CloseTryAgainLater, CloseSlowConsumer:
		return true
	}
	return false
}

// validSendCode reports whether code may be put on the wire in a close frame.
// 1005, 1006 and 1015 are reserved for local use and must never be sent.
func validSendCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// maxCloseReason is the largest reason that fits in a control frame
// (125 bytes of payload, 2 of them taken by the code).
const maxCloseReason = 123

// truncateReason cuts reason to at most maxCloseReason bytes without
// splitting a UTF-8 sequence.
func truncateReason(reason string) string {
	if len(reason) <= maxCloseReason {
		return reason
	}
	cut := maxCloseReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// CloseError describes a closing handshake: the code and reason of the close
// frame that ended the connection. Handler.OnClose receives a *CloseError
// whenever a close frame was sent or received; use errors.As to get it.
type CloseError struct {
	Code   int
	Reason string
	// Remote is true if the peer sent the close frame first, false if this
	// server did (Conn.Close, slow consumer, oversized or binary message,
	// panic, Shutdown).
	Remote bool
}

func (e *CloseError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	s := "wsconn: closed by " + side + " with code " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

var (
	// ErrClosed is returned by writes on a connection that is closing or
	// closed.
	ErrClosed = errors.New("wsconn: connection closed")
	// ErrSlowConsumer is returned by the write that found more than
	// Config.MaxPendingBytes queued for the connection. The connection is
	// being closed with CloseSlowConsumer; later writes return ErrClosed.
	ErrSlowConsumer = errors.New("wsconn: slow consumer: too many bytes pending")
	// ErrMessageTooLarge is returned by WriteText for a message whose frame
	// is larger than Config.MaxPendingBytes: it could never be queued. The
	// connection is left open.
	ErrMessageTooLarge = errors.New("wsconn: message larger than MaxPendingBytes")
	// ErrServerClosed is returned by Upgrade after Shutdown started, and is
	// passed to Handler.OnClose for connections that Shutdown dropped before
	// any close frame was exchanged.
	ErrServerClosed = errors.New("wsconn: server closed")
	// ErrConnectionLost is passed to Handler.OnClose when the transport went
	// away without a close frame and without a more specific error.
	ErrConnectionLost = errors.New("wsconn: connection lost")

	// errEarlyData: the client sent bytes before it received our 101
	// response (forbidden by RFC 6455 section 4.1).
	errEarlyData = errors.New("wsconn: client sent data before the handshake completed")
	// errNotTCP: the hijacked connection is not a plain TCP connection.
	errNotTCP = errors.New("wsconn: Upgrade needs a plain TCP connection (terminate TLS in front)")
	// errTooManyQueued: more than Config.MaxQueuedEvents events of the
	// connection wait for its handler.
	errTooManyQueued = errors.New("wsconn: too many events waiting for the handler")
	// errCloseTimeout: the close handshake did not finish in CloseTimeout.
	errCloseTimeout = errors.New("wsconn: close handshake timed out")
)
