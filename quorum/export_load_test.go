package quorum

// LoadsWaiting is how many LoadCheckpoints reads wait for a merged read.
func LoadsWaiting(s *Store) int {
	s.loads.mu.Lock()
	defer s.loads.mu.Unlock()
	return len(s.loads.waiting)
}
