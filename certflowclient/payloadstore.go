package certflowclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/payloadstore"
)

// ErrInputTooLarge is matched (errors.Is) by the error of a start whose
// input is larger than Temporal takes in history (2 MiB a payload, 4 MB
// a request, by default): Uanataca document scans of real size, given to
// a Client without Options.PayloadStore (refused before sending), or to
// a Temporal client without certflow's payload store (refused by
// Temporal). Give the Temporal client the store (PayloadStore, in
// client.Options.ExternalStorage), the same the workers use, and say so
// in Options.PayloadStore.
var ErrInputTooLarge = errors.New("workflow input too large for Temporal's history: configure the payload store, CERTFLOW_PAYLOAD_STORE (README, \"Documents and the payload store\"), " +
	"on this client (a Go service: certflowclient.PayloadStore in client.Options.ExternalStorage) as on the workers")

// maxInlineInput is the largest input, as JSON, that Temporal takes in
// history by default (2 MiB a payload, its blob size limit), less room
// for the encryption and the payload's framing.
const maxInlineInput = 2<<20 - 1<<10

// fitsInHistory refuses, with ErrInputTooLarge, an input too large to
// send without a payload store: sending it would only earn Temporal's
// refusal (or, above 4 MB, gRPC's), after the time it takes to send.
func fitsInHistory(in any) error {
	b, err := json.Marshal(in)
	if err != nil || len(b) <= maxInlineInput {
		return nil // the SDK says what is wrong with an input it cannot encode
	}
	return fmt.Errorf("%w (the input is %.1f MiB as JSON, and Temporal takes 2 MiB in history)", ErrInputTooLarge, float64(len(b))/(1<<20))
}

// documentsTaskTimeout is the workflow task timeout of an issuance whose
// documents exceed a MiB, instead of Temporal's 10 s: its workflow tasks
// fetch, decrypt and decode them (about half a second for 15 MiB on an
// idle core, 7 s under the race detector), and a task that outlasts its
// timeout is retried from the start, as long again.
const documentsTaskTimeout = 30 * time.Second

// documentBytes is the size of the documents a workflow input carries.
func documentBytes(in any) int {
	ua, ok := in.(contract.UanatacaIssuanceInput)
	if !ok {
		return 0
	}
	n := 0
	for _, d := range ua.Documents {
		n += len(d.Content)
	}
	return n
}

// tooLarge turns Temporal's refusal of an oversized start — the server's
// "Blob data size exceeds limit" or gRPC's message-size limit — into
// ErrInputTooLarge, saying how large the input was; other errors pass.
func tooLarge(err error, in any) error {
	var invalid *serviceerror.InvalidArgument
	sizeRefused := errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Message), "size exceeds limit")
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
		sizeRefused = true
	}
	if !sizeRefused {
		return err
	}
	size := "more than 2 MB"
	if b, jerr := json.Marshal(in); jerr == nil {
		size = fmt.Sprintf("%.1f MiB as JSON", float64(len(b))/(1<<20))
	}
	return fmt.Errorf("%w (the input is %s; Temporal said: %v)", ErrInputTooLarge, size, err)
}

// PayloadStoreSettings address certflow's payload store as the worker's
// CERTFLOW_PAYLOAD_STORE, _THRESHOLD, _ACCESS_KEY and _SECRET_KEY do.
type PayloadStoreSettings struct {
	// URL is file:///absolute/dir (one host) or
	// s3://bucket/prefix?endpoint=host:port&region=…&secure=true|false.
	URL string
	// Threshold is the size from which a payload is stored; 0: 256 KiB.
	// Keep the workers' value.
	Threshold int
	// AccessKey and SecretKey are an S3 store's credentials; empty:
	// AWS's usual ones (environment, ~/.aws, the instance's role).
	AccessKey, SecretKey string
}

// PayloadStore returns the external storage certflow's workers use, for
// the client.Options.ExternalStorage of the Temporal client a service
// passes to New, so it can start issuances whose documents exceed what
// Temporal keeps in history. Payloads are stored after the codec
// (Encryption) encrypted them. Empty settings return the zero setting
// (no store).
func PayloadStore(s PayloadStoreSettings) (converter.ExternalStorage, error) {
	store, err := payloadstore.Open(config.PayloadStore{
		URL: s.URL, Threshold: config.ByteSize(s.Threshold), AccessKey: s.AccessKey, SecretKey: s.SecretKey,
	})
	if err != nil {
		return converter.ExternalStorage{}, err
	}
	return store.ExternalStorage(), nil
}

// PayloadStoreFromEnv is PayloadStore configured by the environment
// variables the worker reads (CERTFLOW_PAYLOAD_STORE, _THRESHOLD,
// _ACCESS_KEY or _ACCESS_KEY_FILE, _SECRET_KEY or _SECRET_KEY_FILE).
func PayloadStoreFromEnv() (converter.ExternalStorage, error) {
	var cfg config.PayloadStore
	if err := envconfig.Process("", &cfg); err != nil {
		return converter.ExternalStorage{}, fmt.Errorf("reading CERTFLOW_PAYLOAD_STORE*: %w", err)
	}
	store, err := payloadstore.Open(cfg)
	if err != nil {
		return converter.ExternalStorage{}, err
	}
	return store.ExternalStorage(), nil
}
