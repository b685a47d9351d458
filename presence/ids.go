package presence

import "unicode/utf8"

// MaxIDBytes bounds user ids (and the ids of anything else a client names).
const MaxIDBytes = 256

// ValidateUserID checks that id is a usable user id: 1 to 256 bytes of
// UTF-8 with no control characters.
func ValidateUserID(id string) error {
	if id == "" {
		return Errorf(CodeInvalidArgument, "user id must not be empty")
	}
	if len(id) > MaxIDBytes {
		return Errorf(CodeInvalidArgument, "user id is %d bytes, at most %d allowed", len(id), MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return Errorf(CodeInvalidArgument, "user id must be valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return Errorf(CodeInvalidArgument, "user id must not contain control characters")
		}
	}
	return nil
}
