package presence

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes are part of the wire
// contract: clients switch on them, so they are never renamed.
type Code string

// The error codes. Transports map each to an HTTP status and a WebSocket
// close code in one table (see httpapi and gateway).
const (
	CodeBadJSON         Code = "bad_json"
	CodeUnknownType     Code = "unknown_type"
	CodeInvalidArgument Code = "invalid_argument"
	CodeLimitExceeded   Code = "limit_exceeded"
	CodeRateLimited     Code = "rate_limited"
	CodeUnauthorized    Code = "unauthorized"
	CodeForbidden       Code = "forbidden"
	CodeNotFound        Code = "not_found"
	CodeConflict        Code = "conflict"
	CodeUnavailable     Code = "unavailable"
	CodeInternal        Code = "internal"
)

// Error is an error meant for clients: its Message is safe to show. Any
// other error is internal and reaches clients only as "internal error".
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err. Internal errors are
// reduced to "internal error" so their details never leave the server.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
