// Package wsconn is presenced's WebSocket server layer. It wraps
// github.com/lesismal/nbio (pinned at v1.6.12); the rest of the server uses
// this package only and never imports nbio.
//
// # Model
//
// The HTTP handshake is served by net/http. [Server.Upgrade] answers it and
// moves the socket into nbio's epoll engine (UpgradeAndTransferConnToPoller):
// an idle connection then has no goroutine and no buffer of its own, only
// nbio's and wsconn's connection structs. Measured with
// TestMemoryPerIdleConnection (15,000 idle loopback connections, client in
// another process): about 0.9 KB of resident memory per connection,
// wsconn's state included.
//
// Events are delivered to a [Handler] by a fixed pool of worker goroutines
// (Config.HandlerWorkers), one at a time per connection. A handler may wait
// on a store; the waits are bounded by the pool, a bounded queue of
// connections waiting for a worker (Config.HandlerQueue, then
// back-pressure on the pollers) and a bounded number of events per
// connection (Config.MaxQueuedEvents, then close 1013). Writes
// ([Conn.WriteText], [Conn.Ping]) never block on the socket: what the
// kernel does not take at once is queued by nbio and flushed when the
// socket becomes writable.
//
// # Limits and closes
//
//   - Incoming frames and messages are limited to Config.MaxMessageBytes;
//     a larger one is refused from its header and the connection is closed
//     with [CloseMessageTooBig] (1009).
//   - Binary messages close the connection with [CloseUnsupportedData]
//     (1003): the presenced protocol is text only.
//   - A client frame without a mask closes the connection with
//     [CloseProtocolError] (1002), as RFC 6455 section 5.1 requires; the
//     frames before it are still delivered.
//   - Output queued for a slow reader is limited to Config.MaxPendingBytes;
//     the write that would go past it fails with [ErrSlowConsumer] and the
//     connection is closed with [CloseSlowConsumer] (4000).
//   - More than Config.MaxQueuedEvents events waiting for a connection's
//     Handler close it with [CloseTryAgainLater] (1013).
//   - A panic in a Handler closes that connection with
//     [CloseInternalError] (1011).
//   - [Server.Shutdown] closes connections with [CloseServiceRestart] (1012).
//
// Closes initiated by the server are graceful: the close frame is queued
// after any pending output, the socket's write side is shut down once
// everything is written, and the server keeps reading until the peer closes
// or Config.CloseTimeout passes. (Closing a socket with unread input makes
// the kernel send a reset, which can destroy the close frame before the peer
// reads it.)
//
// # Liveness
//
// wsconn sets no read or write deadline and nbio's keepalive timer is
// disabled (its KeepaliveTime is 0): the caller pings with [Conn.Ping],
// watches [Handler.OnPong] and [Handler.OnMessage], and closes connections it
// considers dead. TCP keepalive, if the listener enabled it (net/http does by
// default), stays on the socket.
package wsconn
