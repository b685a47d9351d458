//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/internal/leanws"
)

// groupConfig is what a group needs to reach the server.
type groupConfig struct {
	// URL is the server's base URL: http://host:port or ws://host:port.
	URL string `json:"url"`
	// Secret signs HS256 tokens; empty means dev mode (?user_id=).
	Secret string `json:"secret,omitempty"`
	Device string `json:"device"`
	// DialConcurrency bounds the handshakes a group runs at once.
	DialConcurrency int `json:"dial_concurrency"`
	// TimeLimit ends a worker process that outlives it.
	TimeLimit time.Duration `json:"time_limit"`
}

// welcomeInfo is the timing the server announced.
type welcomeInfo struct {
	HeartbeatIntervalMS int64 `json:"heartbeat_interval_ms"`
	HeartbeatTTLMS      int64 `json:"heartbeat_ttl_ms"`
	OfflineGraceMS      int64 `json:"offline_grace_ms"`
}

// group is the set of connections one process holds. Worker processes each
// run one; every scenario is a sequence of calls on groups.
type group struct {
	cfg    groupConfig
	emit   func(v any) // asynchronous events to the coordinator
	poller *leanws.Poller

	mu      sync.Mutex
	conns   []*bconn
	welcome welcomeInfo
	closes  map[string]int64 // unexpected closes by close code ("lost": no close frame)
	errs    map[string]int64 // error replies by code

	open       atomic.Int64
	heartbeats atomic.Int64
	received   atomic.Int64
	updates    atomic.Int64
	changes    atomic.Int64
	recvBytes  atomic.Int64

	hbMu sync.Mutex // over hb and ch
	hb   pacer
	ch   pacer

	watch watchState
	fan   fanState
}

func newGroup(cfg groupConfig, emit func(any)) (*group, error) {
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 100
	}
	p, err := leanws.NewPoller()
	if err != nil {
		return nil, err
	}
	g := &group{cfg: cfg, emit: emit, poller: p, closes: map[string]int64{}, errs: map[string]int64{}}
	g.fan.g = g
	return g, nil
}

// bconn is one simulated client. It survives reconnects: what it has seen
// of its watched users carries over, so a reconnect that finds a user
// offline is noticed.
type bconn struct {
	g       *group
	user    string
	subs    []string
	session bool

	ws      atomic.Pointer[leanws.Conn]
	leaving atomic.Bool   // a close this tool asked for: not counted as lost
	done    chan struct{} // closed when the current socket is gone
	replies chan []byte   // messages carrying a request id
	nextID  int
	// sessionAt is when the server acknowledged the current socket's
	// session: it was open by then.
	sessionAt time.Time

	mu   sync.Mutex
	seen map[string]string // watched user → last status seen
}

var heartbeatFrame = []byte(`{"type":"heartbeat"}`)

func (g *group) wsURL(user string) (string, error) {
	u, err := url.Parse(g.cfg.URL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("--url %q: only http:// or ws:// is supported", g.cfg.URL)
	}
	u.Path = "/v1/ws"
	q := url.Values{}
	if g.cfg.Secret != "" {
		tok, err := auth.Sign(g.cfg.Secret, user, 24*time.Hour, nil)
		if err != nil {
			return "", err
		}
		q.Set("token", tok)
	} else {
		q.Set("user_id", user)
	}
	if g.cfg.Device != "" {
		q.Set("device", g.cfg.Device)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// link is one connection attempt of a bconn: the leanws.Handler of that
// socket. A reconnect makes a new link, so events of an old socket never
// touch the new one.
type link struct {
	b       *bconn
	welcome chan []byte   // the first message
	done    chan struct{} // closed by OnClose
	greeted bool          // owned by the poller goroutine
}

var _ leanws.Handler = (*link)(nil)

// connect dials c, reads the welcome, opens the session and subscribes.
func (c *bconn) connect(ctx context.Context) error {
	g := c.g
	u, err := g.wsURL(c.user)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	l := &link{b: c, welcome: make(chan []byte, 1), done: make(chan struct{})}
	g.open.Add(1) // OnClose takes it back, once the socket is gone
	ws, err := g.poller.Dial(dctx, u, l)
	if err != nil {
		select {
		case <-l.done: // OnClose already ran
		default:
			g.open.Add(-1)
		}
		return err
	}
	c.leaving.Store(false)
	c.done = l.done
	c.ws.Store(ws)
	err = c.start(dctx, l, ws)
	if err != nil {
		c.leaving.Store(true)
		c.ws.Store(nil)
		ws.Drop()
	}
	return err
}

// start waits for the welcome, opens the session and subscribes.
func (c *bconn) start(ctx context.Context, l *link, ws *leanws.Conn) error {
	var first []byte
	select {
	case first = <-l.welcome:
	case <-l.done:
		return errors.New("connection closed before the welcome")
	case <-ctx.Done():
		return fmt.Errorf("waiting for welcome: %w", ctx.Err())
	}
	var w welcomeInfo
	if typ, _ := header(first); typ != "welcome" || json.Unmarshal(first, &w) != nil {
		return fmt.Errorf("first message is not a welcome: %.100s", first)
	}
	c.g.mu.Lock()
	c.g.welcome = w
	c.g.mu.Unlock()
	if c.session {
		// The ack comes once the session is open on the server.
		reply, err := c.request(ctx, func(id int) []byte { return fmt.Appendf(nil, `{"type":"heartbeat","id":%d}`, id) })
		if err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if typ, _ := header(reply); typ != "ack" {
			return fmt.Errorf("heartbeat answered %.200s", reply)
		}
		c.sessionAt = time.Now()
	}
	for i := 0; i < len(c.subs); i += 1000 {
		ids := c.subs[i:min(i+1000, len(c.subs))]
		reply, err := c.request(ctx, func(id int) []byte {
			b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": id, "user_ids": ids})
			return b
		})
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if typ, _ := header(reply); typ != "initial_presence" {
			return fmt.Errorf("subscribe answered %.200s", reply)
		}
	}
	return nil
}

// request sends the frame built for a fresh id and waits for its reply.
func (c *bconn) request(ctx context.Context, build func(id int) []byte) ([]byte, error) {
	ws := c.ws.Load()
	if ws == nil {
		return nil, errors.New("not connected")
	}
	c.nextID++
	id := c.nextID
	if err := ws.WriteText(build(id)); err != nil {
		return nil, err
	}
	want := strconv.Itoa(id)
	for {
		select {
		case r := <-c.replies:
			if _, got := header(r); got == want {
				return r, nil
			}
		case <-c.done:
			return nil, errors.New("connection closed before the reply")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OnMessage handles one server message, on the poller goroutine.
func (l *link) OnMessage(_ *leanws.Conn, b []byte) {
	if !l.greeted {
		l.greeted = true
		l.welcome <- append([]byte(nil), b...)
		return
	}
	c, g := l.b, l.b.g
	now := time.Now().UnixNano()
	g.received.Add(1)
	g.recvBytes.Add(int64(len(b)))
	typ, id := header(b)
	switch typ {
	case "presence_update":
		if u, ok := scanUpdate(b); ok {
			g.updates.Add(1)
			g.fan.record(u.custom, now)
			c.observe(u, now)
		}
	case "initial_presence":
		if snap, ok := scanSnapshot(b); ok {
			for _, u := range snap {
				c.observe(u, now)
			}
		}
	case "error":
		var e struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &e)
		g.mu.Lock()
		g.errs[e.Code]++
		g.mu.Unlock()
	}
	if id != "" {
		select {
		case c.replies <- append([]byte(nil), b...):
		default:
		}
	}
}

// OnClose records the end of the socket.
func (l *link) OnClose(_ *leanws.Conn, err error) {
	g := l.b.g
	g.open.Add(-1)
	if !l.b.leaving.Load() && !errors.Is(err, leanws.ErrDropped) {
		g.lost(err)
	}
	close(l.done)
}

// observe records a watched user's status as this client saw it.
func (c *bconn) observe(u update, now int64) {
	c.mu.Lock()
	if c.seen == nil {
		c.seen = make(map[string]string, len(c.subs))
	}
	prev, known := c.seen[u.user]
	c.seen[u.user] = u.status
	c.mu.Unlock()
	if !known || prev == u.status {
		return
	}
	switch {
	case u.status == "offline":
		c.g.watch.offline(u, now)
	case prev == "offline":
		c.g.watch.backOnline.Add(1)
	}
}

func (g *group) lost(err error) {
	key := "lost"
	var ce *leanws.CloseError
	if errors.As(err, &ce) {
		key = strconv.Itoa(ce.Code)
	}
	g.mu.Lock()
	g.closes[key]++
	g.mu.Unlock()
}

// openArgs describes the connections one group opens: users
// Prefix-First … Prefix-(First+Count-1).
type openArgs struct {
	Prefix string `json:"prefix"`
	First  int    `json:"first"`
	Count  int    `json:"count"`
	// Step, above 1, takes every Step-th user from First instead.
	Step    int  `json:"step,omitempty"`
	Session bool `json:"session"`
	// Ring subscribes user i to the Ring users after it, modulo Total.
	Ring  int `json:"ring,omitempty"`
	Total int `json:"total,omitempty"`
	// Also is watched by every connection.
	Also []string `json:"also,omitempty"`
	// Watch is split evenly over the connections.
	Watch []string `json:"watch,omitempty"`
}

type openReply struct {
	Opened  int         `json:"opened"`
	Failed  int         `json:"failed"`
	Errors  []string    `json:"errors,omitempty"`
	Welcome welcomeInfo `json:"welcome"`
	Seconds float64     `json:"seconds"`
}

func (g *group) openConns(ctx context.Context, a openArgs) (openReply, error) {
	if a.Count <= 0 {
		return openReply{}, errors.New("open: count must be positive")
	}
	if a.Ring > 0 && a.Total <= a.Ring {
		return openReply{}, fmt.Errorf("open: ring %d needs more than %d users in total", a.Ring, a.Total)
	}
	start := time.Now()
	conns := make([]*bconn, a.Count)
	per := (len(a.Watch) + a.Count - 1) / a.Count
	for i := range conns {
		n := a.First + i*max(a.Step, 1)
		c := &bconn{g: g, user: fmt.Sprintf("%s-%d", a.Prefix, n), session: a.Session, replies: make(chan []byte, 4)}
		for k := 1; k <= a.Ring; k++ {
			c.subs = append(c.subs, fmt.Sprintf("%s-%d", a.Prefix, (n+k)%a.Total))
		}
		c.subs = append(c.subs, a.Also...)
		if per > 0 && i*per < len(a.Watch) {
			c.subs = append(c.subs, a.Watch[i*per:min((i+1)*per, len(a.Watch))]...)
		}
		conns[i] = c
	}
	var t tally
	sem := make(chan struct{}, g.cfg.DialConcurrency)
	var wg sync.WaitGroup
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t.record(c.connect(ctx))
		}()
	}
	wg.Wait()
	rep := openReply{Opened: t.ok, Failed: t.failed, Errors: t.errors}
	g.mu.Lock()
	g.conns = append(g.conns, conns...)
	rep.Welcome = g.welcome
	g.mu.Unlock()
	rep.Seconds = time.Since(start).Seconds()
	return rep, ctx.Err()
}

// tally counts the outcomes of concurrent connects, keeping a few errors.
type tally struct {
	mu         sync.Mutex
	ok, failed int
	errors     []string
}

func (t *tally) record(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.ok++
		return
	}
	t.failed++
	if len(t.errors) < 5 {
		t.errors = append(t.errors, err.Error())
	}
}

func (g *group) snapshot() []*bconn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*bconn(nil), g.conns...)
}

// heartbeat sends heartbeats on every session connection at perSecond each
// (zero stops), spread evenly over time by one goroutine.
func (g *group) heartbeat(perSecond float64) {
	g.hbMu.Lock()
	defer g.hbMu.Unlock()
	g.hb.stop()
	conns := g.sessions()
	if perSecond <= 0 || len(conns) == 0 {
		return
	}
	g.hb.start(perSecond*float64(len(conns)), func(sent int) {
		if ws := conns[sent%len(conns)].ws.Load(); ws != nil && ws.WriteText(heartbeatFrame) == nil {
			g.heartbeats.Add(1)
		}
	})
}

// changeStatus has the session connections change their custom status at
// perSecond in total (zero stops), one connection after the other: each
// change is one the server stores and sends to the user's watchers.
func (g *group) changeStatus(perSecond float64) {
	g.hbMu.Lock()
	defer g.hbMu.Unlock()
	g.ch.stop()
	conns := g.sessions()
	if perSecond <= 0 || len(conns) == 0 {
		return
	}
	g.ch.start(perSecond, func(sent int) {
		frame := fmt.Appendf(nil, `{"type":"set_status","custom_status":"change %d"}`, sent)
		if ws := conns[sent%len(conns)].ws.Load(); ws != nil && ws.WriteText(frame) == nil {
			g.changes.Add(1)
		}
	})
}

func (g *group) sessions() []*bconn {
	var conns []*bconn
	for _, c := range g.snapshot() {
		if c.session {
			conns = append(conns, c)
		}
	}
	return conns
}

// pacer calls a function at a steady rate from one goroutine: the server
// sees a stream, not a burst every period.
type pacer struct {
	quit, done chan struct{}
}

func (p *pacer) stop() {
	if p.quit != nil {
		close(p.quit)
		<-p.done
		p.quit = nil
	}
}

// start calls send(0), send(1), … perSecond times a second until stop.
func (p *pacer) start(perSecond float64, send func(sent int)) {
	p.quit, p.done = make(chan struct{}), make(chan struct{})
	quit, done := p.quit, p.done
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for sent := 0; ; {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			for due := int(time.Since(start).Seconds() * perSecond); sent < due; sent++ {
				send(sent)
			}
		}
	}()
}

type statsReply struct {
	Open        int64            `json:"open"`
	Conns       int              `json:"conns"`
	Heartbeats  int64            `json:"heartbeats"`
	Received    int64            `json:"received"`
	Updates     int64            `json:"updates"`
	Changes     int64            `json:"changes"`
	RecvBytes   int64            `json:"recv_bytes"`
	OfflineSeen int64            `json:"offline_seen"`
	BackOnline  int64            `json:"back_online"`
	Closes      map[string]int64 `json:"closes,omitempty"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	// CPUSeconds is the worker process's own CPU time so far.
	CPUSeconds float64 `json:"cpu_seconds"`
}

func (g *group) stats() statsReply {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := statsReply{
		Open: g.open.Load(), Conns: len(g.conns), Heartbeats: g.heartbeats.Load(),
		Received: g.received.Load(), Updates: g.updates.Load(),
		Changes: g.changes.Load(), RecvBytes: g.recvBytes.Load(),
		OfflineSeen: g.watch.offlineSeen.Load(), BackOnline: g.watch.backOnline.Load(),
		Closes: map[string]int64{}, Errors: map[string]int64{},
	}
	for k, v := range g.closes {
		s.Closes[k] = v
	}
	for k, v := range g.errs {
		s.Errors[k] = v
	}
	if p, err := sampleProc(os.Getpid()); err == nil {
		s.CPUSeconds = p.CPU.Seconds()
	}
	return s
}

// closeAll ends every connection, cleanly (close frame) or by dropping the
// socket, and returns when each was closed (unix nanos, by user).
func (g *group) closeAll(clean bool) map[string]int64 {
	conns := g.snapshot()
	at := make(map[string]int64, len(conns))
	for _, c := range conns {
		ws := c.ws.Swap(nil)
		if ws == nil {
			continue
		}
		c.leaving.Store(true)
		at[c.user] = time.Now().UnixNano()
		if clean {
			_ = ws.Close(1000, 5*time.Second)
		} else {
			ws.Drop()
		}
	}
	for _, c := range conns {
		if c.done != nil {
			<-c.done
		}
	}
	return at
}
