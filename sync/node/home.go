package node

import (
	"fmt"
	"os"
	"path/filepath"
)

// blocksDir is the badger database inside a home.
const blocksDir = "blocks"

// DefaultHome returns the home shoal uses when none is given: $SHOAL_HOME,
// else the OS config dir + "/shoal".
func DefaultHome() (string, error) {
	if h := os.Getenv("SHOAL_HOME"); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find home: %w (set SHOAL_HOME or pass --home)", err)
	}
	return filepath.Join(dir, "shoal"), nil
}
