package boltstore

// PageWrites returns the pages the file's transactions wrote so far.
func (s *Store) PageWrites() int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}

// Flush writes what is pending and the lease now, as the committer does
// every FlushInterval.
func (s *Store) Flush() { s.commit() }
