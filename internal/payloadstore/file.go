package payloadstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// File is a StorageDriver keeping payloads as files under one directory,
// for one host: the dev stack (.dev/payloads), a single-server
// deployment, tests. Files are written whole then renamed into place, so
// a reader never sees half of one; they and their folders are readable by
// their owner only.
type File struct {
	dir  string
	root *os.Root
}

// FileDriverName is the File driver's name, recorded in history with each
// reference to a payload it stored.
const FileDriverName = "certflow-file"

var _ converter.StorageDriver = (*File)(nil)

// NewFile returns the driver for dir (absolute), created if missing.
func NewFile(dir string) (*File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("payload store %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("payload store %s: %w", dir, err)
	}
	return &File{dir: dir, root: root}, nil
}

// Name is the driver's name in history; it must never change.
func (f *File) Name() string { return FileDriverName }

// Type identifies the implementation.
func (f *File) Type() string { return "certflow.file" }

// Dir is the directory the driver writes under.
func (f *File) Dir() string { return f.dir }

// Store writes each payload to its content-addressed file.
func (f *File) Store(ctx converter.StorageDriverStoreContext, payloads []*commonpb.Payload) ([]converter.StorageDriverClaim, error) {
	return storeAll(ctx, payloads, f.put)
}

// Retrieve reads each claim's file back.
func (f *File) Retrieve(ctx converter.StorageDriverRetrieveContext, claims []converter.StorageDriverClaim) ([]*commonpb.Payload, error) {
	return retrieveAll(ctx, claims, f.get)
}

func (f *File) put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.root.MkdirAll(path.Dir(key), 0o700); err != nil {
		return fmt.Errorf("payload store %s: %w", f.dir, err)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := key + ".tmp-" + hex.EncodeToString(suffix[:])
	if err := f.root.WriteFile(tmp, data, 0o600); err != nil {
		_ = f.root.Remove(tmp)
		return fmt.Errorf("payload store %s: %w", f.dir, err)
	}
	if err := f.root.Rename(tmp, key); err != nil {
		_ = f.root.Remove(tmp)
		return fmt.Errorf("payload store %s: %w", f.dir, err)
	}
	return nil
}

func (f *File) get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := f.root.Stat(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("payload store %s: %s is missing (deleted, or this process uses another store than the one that stored it)", f.dir, key)
	}
	if err != nil {
		return nil, fmt.Errorf("payload store %s: %w", f.dir, err)
	}
	if info.Size() > maxObject {
		return nil, fmt.Errorf("payload store %s: %s is %d bytes, more than a payload can be", f.dir, key, info.Size())
	}
	data, err := f.root.ReadFile(key)
	if err != nil {
		return nil, fmt.Errorf("payload store %s: %w", f.dir, err)
	}
	return data, nil
}
