package checkpoint

// SetBeforeStore installs a hook that runs before every checkpoint write of
// m (set it before StartOnline). The crash test uses it to stop a writer
// exactly between a registry write and the store of its checkpoint.
func SetBeforeStore(m *Manager, f func(d Document, cpt []byte)) { m.beforeStore = f }

// ShaAppendForTest is appendSHA for the external tests.
var ShaAppendForTest = appendSHA

// SetAfterStore installs a hook that runs after every successful checkpoint
// write of m with the bytes and the registry revision it stored (set it
// before StartOnline). The hooks' Document has no Tree: decode cpt for it.
func SetAfterStore(m *Manager, f func(d Document, cpt []byte, rev uint64)) { m.afterStore = f }
