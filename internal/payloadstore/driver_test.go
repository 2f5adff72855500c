package payloadstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// backend is a driver under test and raw access to what it wrote.
type backend struct {
	driver converter.StorageDriver
	// read and write an object's bytes by the key of its claim.
	read  func(t *testing.T, key string) []byte
	write func(t *testing.T, key string, data []byte)
	// remove deletes it.
	remove func(t *testing.T, key string)
}

// countingLimiter counts the permits a driver takes.
type countingLimiter[T any] struct{ n atomic.Int64 }

func (l *countingLimiter[T]) Permit(ctx context.Context, _ T, fn func() error) error {
	l.n.Add(1)
	return fn()
}

func payload(data string) *commonpb.Payload {
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("k1")}, Data: []byte(data)}
}

func store(t *testing.T, d converter.StorageDriver, target converter.StorageDriverTargetInfo, ps ...*commonpb.Payload) []converter.StorageDriverClaim {
	t.Helper()
	lim := &countingLimiter[*commonpb.Payload]{}
	claims, err := d.Store(converter.StorageDriverStoreContext{Context: context.Background(), Target: target, Limiter: lim}, ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != len(ps) || int(lim.n.Load()) != len(ps) {
		t.Fatalf("%d claims and %d permits for %d payloads", len(claims), lim.n.Load(), len(ps))
	}
	return claims
}

func retrieve(d converter.StorageDriver, claims ...converter.StorageDriverClaim) ([]*commonpb.Payload, error) {
	return d.Retrieve(converter.StorageDriverRetrieveContext{Context: context.Background(), Limiter: &countingLimiter[converter.StorageDriverClaim]{}}, claims)
}

// testDriver runs what every driver must do against b.
func testDriver(t *testing.T, b backend) {
	wf := converter.StorageDriverWorkflowInfo{Namespace: "default", WorkflowID: "uanataca-3f2a", WorkflowType: "UanatacaIssuance", RunID: "r1"}

	t.Run("round trip, content-addressed under the workflow", func(t *testing.T) {
		ps := []*commonpb.Payload{payload(strings.Repeat("a", 300<<10)), payload("second"), payload(strings.Repeat("c", 5<<20))}
		claims := store(t, b.driver, wf, ps...)
		for i, c := range claims {
			key := c.ClaimData["key"]
			raw := b.read(t, key)
			sum := sha256.Sum256(raw)
			if want := "workflows/default/uanataca-3f2a/" + hex.EncodeToString(sum[:]); key != want {
				t.Errorf("payload %d stored as %s, want %s (its content's SHA-256 under the workflow)", i, key, want)
			}
			var stored commonpb.Payload
			if err := proto.Unmarshal(raw, &stored); err != nil || !proto.Equal(&stored, ps[i]) {
				t.Errorf("payload %d: the object is not the payload as given (%v)", i, err)
			}
		}
		got, err := retrieve(b.driver, claims...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ps {
			if !proto.Equal(got[i], ps[i]) {
				t.Errorf("payload %d came back different", i)
			}
		}
		again := store(t, b.driver, wf, ps[1])
		if again[0].ClaimData["key"] != claims[1].ClaimData["key"] {
			t.Errorf("the same bytes stored twice got two keys")
		}
	})

	t.Run("keys of any target stay in their folder", func(t *testing.T) {
		tests := []struct {
			target converter.StorageDriverTargetInfo
			prefix string
		}{
			{converter.StorageDriverWorkflowInfo{Namespace: "prod", WorkflowID: "../../etc/passwd"}, "workflows/prod/%2E.%2F..%2Fetc%2Fpasswd/"},
			{converter.StorageDriverWorkflowInfo{Namespace: "a/b", WorkflowID: ".hidden id"}, "workflows/a%2Fb/%2Ehidden%20id/"},
			{converter.StorageDriverWorkflowInfo{}, "workflows/_/_/"},
			{converter.StorageDriverActivityInfo{Namespace: "default", ActivityID: "act-1"}, "activities/default/act-1/"},
			{nil, "other/"},
		}
		for _, tt := range tests {
			c := store(t, b.driver, tt.target, payload("x"))[0]
			if key := c.ClaimData["key"]; !strings.HasPrefix(key, tt.prefix) || strings.Count(key, "/") != strings.Count(tt.prefix, "/") {
				t.Errorf("target %+v: key %s, want %s<sha256>", tt.target, key, tt.prefix)
			}
			if got, err := retrieve(b.driver, c); err != nil || !proto.Equal(got[0], payload("x")) {
				t.Errorf("target %+v: read back %v, %v", tt.target, got, err)
			}
		}
	})

	t.Run("tampered, missing and forged objects are refused", func(t *testing.T) {
		tampered := store(t, b.driver, wf, payload("to be tampered with"))[0]
		raw := b.read(t, tampered.ClaimData["key"])
		raw[len(raw)-1] ^= 1
		b.write(t, tampered.ClaimData["key"], raw)
		if _, err := retrieve(b.driver, tampered); !errors.Is(err, ErrCorrupt) {
			t.Errorf("tampered object: %v, want ErrCorrupt", err)
		}

		missing := store(t, b.driver, wf, payload("to be deleted"))[0]
		b.remove(t, missing.ClaimData["key"])
		if _, err := retrieve(b.driver, missing); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("deleted object: %v, want it said missing", err)
		}

		good := store(t, b.driver, wf, payload("good"))[0]
		sum := good.ClaimData["sha256"]
		forged := []map[string]string{
			{"key": "../../../etc/passwd", "sha256": sum},
			{"key": "workflows/default/../../" + sum, "sha256": sum},
			{"key": "/workflows/default/x/" + sum, "sha256": sum},
			{"key": good.ClaimData["key"], "sha256": strings.Repeat("0", 64)},
			{"key": "workflows/default/x/" + strings.ToUpper(sum), "sha256": strings.ToUpper(sum)},
			{},
		}
		for _, claim := range forged {
			if _, err := retrieve(b.driver, converter.StorageDriverClaim{ClaimData: claim}); err == nil {
				t.Errorf("forged claim %v was read", claim)
			}
		}
	})

	t.Run("a cancelled store fails", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.driver.Store(converter.StorageDriverStoreContext{Context: ctx, Target: wf}, []*commonpb.Payload{payload("late")}); err == nil {
			t.Error("stored with a cancelled context")
		}
	})
}
