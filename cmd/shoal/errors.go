package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shoal-sync/shoal/store"
)

// explain makes a command's error what a user should read: a CID said
// once, and for content not found without a daemon, that only this
// store was searched (kubo's "(offline)").
func explain(e *env, err error) error {
	if err == nil || errors.Is(err, errHelp) {
		return err
	}
	err = once(err)
	if e.offline && errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w (offline: no daemon runs on %s, so only its store was searched; `shoal daemon` fetches from peers)", err, e.home)
	}
	return err
}

// cidRE matches a CIDv1 in base32 as shoal prints them.
var cidRE = regexp.MustCompile(`\bbaf[a-z2-7]{20,}\b`)

// once drops ": block CID" from err's text where the text already began
// with that CID ("get CID: block CID: not found" says "get CID: not
// found"); what err wraps is kept for errors.Is.
func once(err error) error {
	msg := err.Error()
	first := cidRE.FindString(msg)
	if first == "" {
		return err
	}
	dup := ": block " + first + ":"
	if !strings.Contains(msg, dup) {
		return err
	}
	return retold{err, strings.Replace(msg, dup, ":", 1)}
}

// retold is an error told in other words; it unwraps to the original.
type retold struct {
	err error
	msg string
}

func (r retold) Error() string { return r.msg }
func (r retold) Unwrap() error { return r.err }
