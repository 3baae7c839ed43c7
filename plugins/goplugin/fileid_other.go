//go:build !linux

package goplugin

import (
	"os"
	"time"
)

// fileID identifies one version of a file, as well as the platform allows.
type fileID struct {
	size  int64
	mtime time.Time
}

func identity(fi os.FileInfo) fileID { return fileID{size: fi.Size(), mtime: fi.ModTime()} }
