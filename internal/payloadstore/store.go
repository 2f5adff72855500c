// Package payloadstore keeps the payloads too big for Temporal's history
// (a Uanataca issuance's document scans) outside it, as the SDK's
// external storage ("claim check", converter.ExternalStorage): a payload
// of at least the threshold is written to a store by a
// converter.StorageDriver, and history holds only a reference — the
// driver's name and a claim of a few hundred bytes. Two drivers: File, a
// directory on one host (the dev stack, a single server), and S3, any
// S3-compatible object store (AWS S3, MinIO, Ceph…) through minio-go.
//
// What is stored is the payload as the data converter left it: the SDK
// runs the codec first and the storage after (internal_workflow_client.go
// encodes the arguments, then visits the request's payloads with the
// storage visitor; workflow and activity task completions likewise), so
// with a codec key the stored bytes are ciphertext, like history.
//
// Objects are content-addressed, keyed by the SHA-256 of the stored
// bytes, under the namespace and the workflow ID (which carry no
// personal data by design):
//
//	workflows/<namespace>/<workflow-id>/<sha256>
//
// so one workflow's payloads can be found and deleted, and every object
// expires by age under one prefix. Temporal never deletes them (see the
// README for the clean-up). A claim holds the key relative to the
// store's root, never the directory or bucket, so a store can be moved
// (copy the objects, change CERTFLOW_PAYLOAD_STORE); the drivers' names
// (certflow-file, certflow-s3), recorded in history with each reference,
// must not change.
package payloadstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/certflow/certflow/internal/config"
)

// DevDirName is the dev stack's store, a folder beside its PKI and key
// (.dev/payloads for make dev).
const DevDirName = "payloads"

// DefaultThreshold is the size from which a payload is stored when the
// configuration says nothing (the SDK's own default too).
const DefaultThreshold = 256 << 10

// maxObject bounds what Retrieve reads of one object: far more than any
// payload certflow writes (a Uanataca input of 32 MiB of documents is
// about 45 MB once base64 and encrypted), so only a wrong object stops it.
const maxObject = 256 << 20

// Store is a configured payload store: a driver and the threshold from
// which payloads go to it.
type Store struct {
	Driver    converter.StorageDriver
	Threshold int
	// Location is where the driver writes.
	Location config.StoreLocation
}

// Open returns the store cfg configures, or nil (no store) when cfg names
// none. A file store's directory is created (0700) if missing.
func Open(cfg config.PayloadStore) (*Store, error) {
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	loc, err := cfg.Location()
	if err != nil {
		return nil, err
	}
	s := &Store{Threshold: int(cfg.Threshold), Location: loc}
	switch {
	case loc.IsFile():
		if s.Driver, err = NewFile(loc.Dir); err != nil {
			return nil, err
		}
	case loc.IsS3():
		access, secret, err := cfg.Credentials()
		if err != nil {
			return nil, err
		}
		if s.Driver, err = NewS3(S3Options{
			Endpoint: loc.Endpoint, Secure: loc.Secure, Region: loc.Region, Bucket: loc.Bucket, Prefix: loc.Prefix,
			AccessKey: access, SecretKey: secret,
		}); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	return s, nil
}

// ExternalStorage is the SDK setting that stores payloads of at least
// the threshold with the driver; the zero setting (nothing stored) for
// a nil Store.
func (s *Store) ExternalStorage() converter.ExternalStorage {
	if s == nil {
		return converter.ExternalStorage{}
	}
	return converter.ExternalStorage{Drivers: []converter.StorageDriver{s.Driver}, PayloadSizeThreshold: s.Threshold}
}

// Apply sets opts.ExternalStorage to the store's (nothing for nil).
func (s *Store) Apply(opts *client.Options) {
	if s != nil {
		opts.ExternalStorage = s.ExternalStorage()
	}
}

// String describes the store for logs: where it writes and from which
// size. No credential.
func (s *Store) String() string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%s (payloads from %s)", s.Location, config.ByteSize(s.Threshold))
}

// Claim data keys.
const (
	claimKey    = "key"
	claimSHA256 = "sha256"
)

// objectKey is where a payload of digest sum is kept for target, relative
// to the store's root.
func objectKey(target converter.StorageDriverTargetInfo, sum [sha256.Size]byte) string {
	digest := hex.EncodeToString(sum[:])
	switch t := target.(type) {
	case converter.StorageDriverWorkflowInfo:
		return "workflows/" + segment(t.Namespace) + "/" + segment(t.WorkflowID) + "/" + digest
	case converter.StorageDriverActivityInfo:
		return "activities/" + segment(t.Namespace) + "/" + segment(t.ActivityID) + "/" + digest
	}
	return "other/" + digest
}

// segment makes s one safe path segment: letters, digits, '-', '_' and
// '.' (not leading) are kept, every other byte is written %XX, so no ID
// can climb out of its folder or add one. Empty is "_".
func segment(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// validKey is what objectKey writes: the segments above, the digest last.
var validKey = regexp.MustCompile(`^(workflows/[A-Za-z0-9_%-][A-Za-z0-9._%-]*/[A-Za-z0-9_%-][A-Za-z0-9._%-]*/|activities/[A-Za-z0-9_%-][A-Za-z0-9._%-]*/[A-Za-z0-9_%-][A-Za-z0-9._%-]*/|other/)([0-9a-f]{64})$`)

// claimOf reads a claim's key and digest, refusing a claim this package
// did not write (history is writable by whoever may start workflows).
func claimOf(c converter.StorageDriverClaim) (key string, sum [sha256.Size]byte, err error) {
	key = c.ClaimData[claimKey]
	m := validKey.FindStringSubmatch(key)
	if m == nil {
		return "", sum, fmt.Errorf("claim key %q is not one of certflow's payload keys", key)
	}
	if c.ClaimData[claimSHA256] != m[2] {
		return "", sum, fmt.Errorf("claim of %s: its sha256 does not match its key", key)
	}
	_, _ = hex.Decode(sum[:], []byte(m[2]))
	return key, sum, nil
}

// storeAll writes each payload with put, at most as many at once as the
// SDK's limiter allows, and returns the claims in order.
func storeAll(sctx converter.StorageDriverStoreContext, payloads []*commonpb.Payload, put func(ctx context.Context, key string, data []byte) error) ([]converter.StorageDriverClaim, error) {
	claims := make([]converter.StorageDriverClaim, len(payloads))
	limiter := sctx.GetLimiter()
	g, ctx := errgroup.WithContext(sctx.Context)
	for i, p := range payloads {
		g.Go(func() error {
			return limiter.Permit(ctx, p, func() error {
				data, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				key := objectKey(sctx.Target, sum)
				if err := put(ctx, key, data); err != nil {
					return err
				}
				claims[i] = converter.StorageDriverClaim{ClaimData: map[string]string{claimKey: key, claimSHA256: hex.EncodeToString(sum[:])}}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return claims, nil
}

// ErrCorrupt is the error of an object whose bytes are not those stored:
// their SHA-256 is not the one in its key.
var ErrCorrupt = errors.New("stored payload does not match its SHA-256")

// retrieveAll reads each claim's object with get, checks its digest and
// decodes it, and returns the payloads in order.
func retrieveAll(rctx converter.StorageDriverRetrieveContext, claims []converter.StorageDriverClaim, get func(ctx context.Context, key string) ([]byte, error)) ([]*commonpb.Payload, error) {
	payloads := make([]*commonpb.Payload, len(claims))
	limiter := rctx.GetLimiter()
	g, ctx := errgroup.WithContext(rctx.Context)
	for i, c := range claims {
		g.Go(func() error {
			return limiter.Permit(ctx, c, func() error {
				key, sum, err := claimOf(c)
				if err != nil {
					return err
				}
				data, err := get(ctx, key)
				if err != nil {
					return err
				}
				if sha256.Sum256(data) != sum {
					return fmt.Errorf("%s: %w", key, ErrCorrupt)
				}
				p := &commonpb.Payload{}
				if err := proto.Unmarshal(data, p); err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				payloads[i] = p
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return payloads, nil
}
