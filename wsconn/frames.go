package wsconn

import (
	"encoding/binary"
	"errors"
)

// errUnmasked: a client sent a frame without a mask. RFC 6455 section 5.1
// says a server must close the connection on such a frame, with 1002.
var errUnmasked = errors.New("wsconn: client frame is not masked")

// frameScanner follows the frame boundaries of a connection's input, ahead
// of nbio's parser, to find the frames that parser accepts but the RFC
// refuses: nbio unmasks a masked frame and takes an unmasked one as is.
// It keeps a partial header (at most 14 bytes) and the count of payload
// bytes still to skip, so it costs nothing per byte of payload. It is
// used only by the connection's poller goroutine.
type frameScanner struct {
	skip uint64   // payload bytes of the current frame not yet seen
	hdr  [14]byte // a header split across reads
	hn   int
}

// scan reads data and returns how many of its bytes precede the first
// refused frame, and errUnmasked if there is one (else len(data), nil).
func (s *frameScanner) scan(data []byte) (int, error) {
	off := 0
	for off < len(data) {
		if s.skip > 0 {
			n := uint64(len(data) - off)
			if n > s.skip {
				n = s.skip
			}
			s.skip -= n
			off += int(n)
			continue
		}
		start := off - s.hn // where the frame began (negative: in an earlier read)
		for s.hn < 2 && off < len(data) {
			s.hdr[s.hn] = data[off]
			s.hn++
			off++
		}
		if s.hn < 2 {
			break
		}
		if s.hdr[1]&0x80 == 0 {
			return max(start, 0), errUnmasked
		}
		need := 2 + 4
		switch s.hdr[1] & 0x7F {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		for s.hn < need && off < len(data) {
			s.hdr[s.hn] = data[off]
			s.hn++
			off++
		}
		if s.hn < need {
			break
		}
		switch n := s.hdr[1] & 0x7F; n {
		case 126:
			s.skip = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
		case 127:
			s.skip = binary.BigEndian.Uint64(s.hdr[2:10])
		default:
			s.skip = uint64(n)
		}
		s.hn = 0
	}
	return len(data), nil
}
