//go:build !linux

package netnstest

import "errors"

// Do fails: network namespaces are Linux's.
func (n Node) Do(fn func() error) error {
	return errors.New("network namespaces need Linux")
}
