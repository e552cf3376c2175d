//go:build !unix

package badgerstore

import "io/fs"

func allocated(fi fs.FileInfo) int64 { return fi.Size() }
