package server

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/boltstore"
	"github.com/presenced/presenced/privacy"
)

// DataFile is the name of the database file under --data-dir.
const DataFile = "presenced.db"

// openEmbedded opens the embedded database under cfg.DataDir.
func openEmbedded(cfg *Config) (*boltstore.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	return boltstore.Open(filepath.Join(cfg.DataDir, DataFile), boltstore.Options{Now: clockFunc(cfg.Clock), Grace: cfg.OfflineGrace, Logger: cfg.Logger})
}

// rules returns the privacy rules of cfg: without --default-visibility, a
// --dev node shows everyone to everyone and any other shows contacts only.
func rules(cfg *Config) (privacy.Rules, error) {
	r := privacy.Rules{DefaultVisibility: privacy.Visibility(cfg.DefaultVisibility), LastSeenReciprocity: cfg.LastSeenReciprocity}
	if r.DefaultVisibility == "" && cfg.Dev {
		r.DefaultVisibility = privacy.Everyone
	}
	return r, r.Validate()
}
