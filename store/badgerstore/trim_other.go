//go:build !linux

package badgerstore

func trimMapped(string) {}

func unmapResident(string) {}
