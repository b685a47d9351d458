// Package client is a Go client for presenced's WebSocket protocol, used by
// the tests and the load tool, and usable by Go services that want to
// appear present or watch presence.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/protocol"
)

// Options says who connects and how.
type Options struct {
	// Token is a JWT; UserID is used instead in a --dev server.
	Token  string
	UserID string
	Device string
	// Buffer is how many unread messages Next may queue. Zero means 256.
	Buffer int
	// OnMessage, when set, receives every message on the reader goroutine
	// instead of Next's queue (replies to Request still reach Request).
	OnMessage func(Message)
	// HTTPClient dials the connection. Nil means a default client.
	HTTPClient *http.Client
	// Header is sent with the upgrade request: Authorization: Bearer
	// instead of Token, or a browser's Origin in tests.
	Header http.Header
}

// Message is one server message.
type Message struct {
	protocol.ServerMessage
	Raw      []byte
	Received time.Time
}

// Presence decodes the message's presence (presence_update).
func (m Message) PresenceValue() (presence.Presence, error) {
	var p presence.Presence
	err := json.Unmarshal(m.Presence, &p)
	return p, err
}

// PresenceMap decodes the message's presences (initial_presence, presence).
func (m Message) PresenceMap() (map[string]presence.Presence, error) {
	out := make(map[string]presence.Presence, len(m.Presences))
	for id, raw := range m.Presences {
		var p presence.Presence
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		out[id] = p
	}
	return out, nil
}

// Err returns the message as an error when it is an error reply.
func (m Message) Err() error {
	if m.Type != protocol.TypeError {
		return nil
	}
	return &presence.Error{Code: presence.Code(m.Code), Message: m.Message}
}

// Conn is a client connection. Its methods are safe for concurrent use.
type Conn struct {
	ws      *websocket.Conn
	Welcome Message
	opts    Options

	msgs    chan Message
	nextID  atomic.Int64
	mu      sync.Mutex
	waiters map[string]chan Message

	done     chan struct{}
	closeErr atomic.Pointer[error]
}

// URL returns the WebSocket URL for base (http://host:port or ws://host:port).
func URL(base string, opts Options) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = "/v1/ws"
	q := url.Values{}
	if opts.Token != "" {
		q.Set("token", opts.Token)
	}
	if opts.UserID != "" {
		q.Set("user_id", opts.UserID)
	}
	if opts.Device != "" {
		q.Set("device", opts.Device)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// HandshakeError is a refused upgrade: the server's HTTP status.
type HandshakeError struct {
	Status int
	Err    error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: HTTP %d: %v", e.Status, e.Err)
}
func (e *HandshakeError) Unwrap() error { return e.Err }

// Dial connects and waits for the welcome.
func Dial(ctx context.Context, base string, opts Options) (*Conn, error) {
	u, err := URL(base, opts)
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: opts.HTTPClient, HTTPHeader: opts.Header})
	if err != nil {
		if resp != nil {
			return nil, &HandshakeError{Status: resp.StatusCode, Err: err}
		}
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	if opts.Buffer == 0 {
		opts.Buffer = 256
	}
	c := &Conn{
		ws: ws, opts: opts,
		waiters: make(map[string]chan Message),
		done:    make(chan struct{}),
	}
	if opts.OnMessage == nil {
		c.msgs = make(chan Message, opts.Buffer)
	}
	first, err := c.read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if first.Type != protocol.TypeWelcome {
		ws.CloseNow()
		return nil, fmt.Errorf("first message is %q, not welcome", first.Type)
	}
	c.Welcome = first
	go c.readLoop()
	return c, nil
}

func (c *Conn) read(ctx context.Context) (Message, error) {
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return Message{}, err
	}
	if typ != websocket.MessageText {
		return Message{}, errors.New("binary message from server")
	}
	m := Message{Raw: data, Received: time.Now()}
	if err := json.Unmarshal(data, &m.ServerMessage); err != nil {
		return Message{}, fmt.Errorf("bad server message %q: %w", data, err)
	}
	return m, nil
}

func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		m, err := c.read(context.Background())
		if err != nil {
			c.closeErr.Store(&err)
			return
		}
		if len(m.ID) > 0 {
			c.mu.Lock()
			w := c.waiters[string(m.ID)]
			delete(c.waiters, string(m.ID))
			c.mu.Unlock()
			if w != nil {
				w <- m
				continue
			}
		}
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(m)
			continue
		}
		c.msgs <- m
	}
}

// Done is closed when the connection's reader stops.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseStatus returns the WebSocket close code the server sent, or -1.
func (c *Conn) CloseStatus() int {
	if e := c.closeErr.Load(); e != nil {
		return int(websocket.CloseStatus(*e))
	}
	return -1
}

// Err returns why the connection's reader stopped (a websocket.CloseError
// when the server closed it), or nil while it runs.
func (c *Conn) Err() error {
	if e := c.closeErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Next returns the next message that is not a reply to a Request.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m, nil
		default:
		}
		if e := c.closeErr.Load(); e != nil {
			return Message{}, *e
		}
		return Message{}, errors.New("connection closed")
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Send writes one message (any JSON-encodable value).
func (c *Conn) Send(ctx context.Context, msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.SendRaw(ctx, b)
}

// SendRaw writes one text frame as given.
func (c *Conn) SendRaw(ctx context.Context, b []byte) error {
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// Request sends msg with a fresh id and returns the reply carrying it. An
// error reply is returned as the message and as a *presence.Error.
func (c *Conn) Request(ctx context.Context, msg map[string]any) (Message, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	msg["id"] = id
	key := strconv.Quote(id)
	w := make(chan Message, 1)
	c.mu.Lock()
	c.waiters[key] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, key)
		c.mu.Unlock()
	}()
	if err := c.Send(ctx, msg); err != nil {
		return Message{}, err
	}
	select {
	case m := <-w:
		return m, m.Err()
	case <-c.done:
		return Message{}, errors.New("connection closed before the reply")
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// SetOnline opens this connection's presence session.
func (c *Conn) SetOnline(ctx context.Context, device string) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeSetOnline, "device": device})
	return err
}

// Heartbeat sends a heartbeat (no reply is requested).
func (c *Conn) Heartbeat(ctx context.Context) error {
	return c.SendRaw(ctx, []byte(`{"type":"heartbeat"}`))
}

// SetStatus sends set_status with the given fields and waits for the ack.
func (c *Conn) SetStatus(ctx context.Context, fields map[string]any) error {
	fields["type"] = protocol.TypeSetStatus
	_, err := c.Request(ctx, fields)
	return err
}

// IdleState reports idle or active.
func (c *Conn) IdleState(ctx context.Context, idle bool) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeIdleState, "idle": idle})
	return err
}

// SetOffline ends this connection's session now.
func (c *Conn) SetOffline(ctx context.Context) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeSetOffline})
	return err
}

// Subscribe watches userIDs and returns their snapshot.
func (c *Conn) Subscribe(ctx context.Context, userIDs ...string) (map[string]presence.Presence, error) {
	m, err := c.Request(ctx, map[string]any{"type": protocol.TypeSubscribe, "user_ids": userIDs})
	if err != nil {
		return nil, err
	}
	return m.PresenceMap()
}

// Unsubscribe stops watching userIDs.
func (c *Conn) Unsubscribe(ctx context.Context, userIDs ...string) error {
	_, err := c.Request(ctx, map[string]any{"type": protocol.TypeUnsubscribe, "user_ids": userIDs})
	return err
}

// GetPresence reads userIDs once.
func (c *Conn) GetPresence(ctx context.Context, userIDs ...string) (map[string]presence.Presence, error) {
	m, err := c.Request(ctx, map[string]any{"type": protocol.TypeGetPresence, "user_ids": userIDs})
	if err != nil {
		return nil, err
	}
	return m.PresenceMap()
}

// Close closes the connection cleanly.
func (c *Conn) Close() error {
	return c.ws.Close(websocket.StatusNormalClosure, "bye")
}

// Drop closes the TCP connection without a close handshake, like a lost
// network.
func (c *Conn) Drop() { c.ws.CloseNow() }
