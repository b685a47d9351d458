// Package leanws is a minimal WebSocket client for load generation. A load
// tool shares the machine with the server it measures, so the client must
// cost as little as possible per connection and per message: after the
// handshake a connection has no goroutine and no buffer of its own while
// idle; one Poller goroutine reads every connection with epoll and hands
// each message to a Handler. It speaks only what presenced needs:
// unfragmented masked text frames out; text, ping and close frames in.
//
// It is built on Linux only.
package leanws
