package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/presenced/presenced/presence"
)

// httpStatus is the one table from error codes to HTTP statuses.
var httpStatus = map[presence.Code]int{
	presence.CodeBadJSON:         http.StatusBadRequest,
	presence.CodeUnknownType:     http.StatusBadRequest,
	presence.CodeInvalidArgument: http.StatusBadRequest,
	presence.CodeLimitExceeded:   http.StatusRequestEntityTooLarge,
	presence.CodeRateLimited:     http.StatusTooManyRequests,
	presence.CodeUnauthorized:    http.StatusUnauthorized,
	presence.CodeForbidden:       http.StatusForbidden,
	presence.CodeNotFound:        http.StatusNotFound,
	presence.CodeConflict:        http.StatusConflict,
	presence.CodeUnavailable:     http.StatusServiceUnavailable,
	presence.CodeInternal:        http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status for an error code.
func HTTPStatus(code presence.Code) int {
	if s, ok := httpStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the JSON body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	code := presence.ErrorCode(err)
	if code == presence.CodeInternal {
		log.Error("request failed", "err", err)
	}
	writeJSON(w, HTTPStatus(code), Error{Code: string(code), Message: presence.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
