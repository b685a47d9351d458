package boltstore

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats is what the database file has cost so far: the figures an operator
// needs to tell whether idle sessions are being written to disk.
type Stats struct {
	// PageWrites counts pages written to the file (data, freelist and meta
	// pages) since the Store was opened; every commit writes at least one.
	PageWrites int64
	// WriteTime is the time spent writing them, fsyncs excluded.
	WriteTime time.Duration
	// Commits is the file's transaction id: write transactions committed
	// since the file was created, so it only grows, across restarts too.
	// It is zero once the Store is closed.
	Commits uint64
	// RecordChanges counts user record changes committed to the file since
	// the Store was opened (several changes to one record between two
	// commits count each).
	RecordChanges uint64
}

// Stats reports the file's write statistics. It is safe for concurrent use
// and cheap: a read transaction and two locked reads.
func (s *Store) Stats() Stats {
	st := s.db.Stats()
	out := Stats{PageWrites: st.TxStats.GetWrite(), WriteTime: st.TxStats.GetWriteTime()}
	_ = s.db.View(func(tx *bolt.Tx) error {
		out.Commits = uint64(tx.ID())
		return nil
	})
	s.mu.Lock()
	out.RecordChanges = s.flushed
	s.mu.Unlock()
	return out
}
