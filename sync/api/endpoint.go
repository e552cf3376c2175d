package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files a running daemon writes into its home.
const (
	AddrFile  = "api"       // HOST:PORT of the API
	TokenFile = "api.token" // the bearer token, mode 0600
)

// NewToken returns a fresh random token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make API token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// WriteEndpoint records a running daemon's API address and token in home.
func WriteEndpoint(home, addr, token string) error {
	if err := writeSecret(filepath.Join(home, TokenFile), token); err != nil {
		return err
	}
	return writeSecret(filepath.Join(home, AddrFile), addr)
}

// RemoveEndpoint removes what WriteEndpoint wrote.
func RemoveEndpoint(home string) {
	os.Remove(filepath.Join(home, AddrFile))
	os.Remove(filepath.Join(home, TokenFile))
}

func writeSecret(path, s string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// pingTimeout bounds Connect's check that the daemon answers.
const pingTimeout = 10 * time.Second

// ErrNoDaemon means no daemon answers for the home.
var ErrNoDaemon = errors.New("no daemon running")

// Connect returns a client of the daemon running on home, or ErrNoDaemon
// if none answers (a stale endpoint file left by a crash counts as none).
func Connect(ctx context.Context, home string) (*Client, error) {
	addr, err := os.ReadFile(filepath.Join(home, AddrFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoDaemon
	}
	if err != nil {
		return nil, fmt.Errorf("read daemon address: %w", err)
	}
	token, err := os.ReadFile(filepath.Join(home, TokenFile))
	if err != nil {
		return nil, fmt.Errorf("read daemon token: %w", err)
	}
	c := NewClient(strings.TrimSpace(string(addr)), strings.TrimSpace(string(token)))
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		var re *RemoteError
		switch {
		case errors.As(err, &re):
			return nil, fmt.Errorf("daemon at %s refused: %w", addr, err)
		case errors.Is(err, context.DeadlineExceeded):
			// Something listens there but does not answer: a daemon
			// too busy to reply, not a missing one.
			return nil, fmt.Errorf("the daemon at %s did not answer within %s: %w", strings.TrimSpace(string(addr)), pingTimeout, err)
		}
		return nil, ErrNoDaemon
	}
	return c, nil
}
