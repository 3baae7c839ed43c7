package checkpoint

// SetBeforeStore installs a hook that runs before every checkpoint write of
// m (set it before StartOnline). The crash test uses it to stop a writer
// exactly between a registry write and the store of its checkpoint.
func SetBeforeStore(m *Manager, f func(Document)) { m.beforeStore = f }

// ShaAppendForTest is appendSHA for the external tests.
var ShaAppendForTest = appendSHA
