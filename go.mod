module github.com/presenced/presenced

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/lesismal/llib v1.2.4 // indirect
	github.com/lesismal/nbio v1.6.12
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
