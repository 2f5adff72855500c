package payloadstore

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "payloads")
	d, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	testDriver(t, backend{
		driver: d,
		read: func(t *testing.T, key string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		write: func(t *testing.T, key string, data []byte) {
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(key)), data, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, key string) {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
				t.Fatal(err)
			}
		},
	})

	// Only the owner reads what is stored, and no temporary file is left.
	err = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", path, perm)
		}
		if filepath.Ext(path) != "" && !e.IsDir() {
			t.Errorf("%s: a temporary file was left", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
