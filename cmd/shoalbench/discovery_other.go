//go:build !linux

package main

import (
	"context"
	"errors"
)

// benchDiscovery needs Linux network namespaces.
func benchDiscovery(context.Context, options, *table) error {
	return errors.New("the discovery bench needs Linux network namespaces")
}
