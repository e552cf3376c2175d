//go:build !linux

package badgerstore

func trimMapped(string, ...string) {}
