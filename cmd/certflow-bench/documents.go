package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/certflowclient"
	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/config"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// documentsFigures is issue 15's P6: one Uanataca issuance whose input
// carries document scans of real size.
type documentsFigures struct {
	// Accepted says the issuance was started and its input accepted (not
	// refused for its size, nor as InvalidInput by the workflow).
	Accepted bool
	// Issued says it ended ISSUED.
	Issued bool
	// HistoryBytes is the whole history's size: every event,
	// protobuf-encoded, as Temporal returns it.
	HistoryBytes int
	// HistoryBytesPerDoc is what each document costs in history: the
	// bytes of the payloads that carry documents — the workflow's input
	// and the upload activities' arguments, which history holds as the
	// payload store's references — divided by the documents.
	HistoryBytesPerDoc int
	// Elapsed is from the start to the result.
	Elapsed time.Duration
}

func (f documentsFigures) String() string {
	return fmt.Sprintf("documents: accepted %v, issued %v in %s; history %d bytes, %d bytes a document",
		f.Accepted, f.Issued, f.Elapsed.Round(time.Millisecond), f.HistoryBytes, f.HistoryBytesPerDoc)
}

// sizeFlag reads a size such as 5MiB.
type sizeFlag struct{ n *int }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return config.ByteSize(*f.n).String()
}

func (f sizeFlag) Set(v string) error {
	var b config.ByteSize
	if err := b.Decode(v); err != nil {
		return err
	}
	*f.n = int(b)
	return nil
}

// runDocuments measures P6: one issuance with -docs documents of -size
// random bytes each, on the dev stack with its default payload store.
func runDocuments(args []string) error {
	fs := flag.NewFlagSet("documents", flag.ExitOnError)
	docs := fs.Int("docs", 3, "documents (at least 2: certflow approves with front and rear)")
	size := 5 << 20
	fs.Var(sizeFlag{&size}, "size", "bytes of each document, e.g. 5MiB")
	fs.Parse(args)
	f, err := measureDocuments(context.Background(), *docs, size)
	if err != nil {
		return err
	}
	fmt.Println(f)
	return nil
}

// measureDocuments runs one Uanataca issuance with docs documents of size
// random bytes each (types front, rear, selfie, then extras), as a
// service does through certflowclient with the payload store, and reads
// its history. certflow approves once the documents are up and the
// emulator issues at once: Elapsed is certflow's own time, the documents'
// storing and uploading included.
func measureDocuments(ctx context.Context, docs, size int) (documentsFigures, error) {
	var f documentsFigures
	if docs < 2 {
		return f, errors.New("documents: -docs must be at least 2 (document_front and document_rear, which approval needs)")
	}
	in := contract.UanatacaIssuanceInput{
		Request: uanataca.CreateRequest{
			Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: "121",
			IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: "00000000Z", GivenName: "Bench",
			Surname1: "Applicant", Email: "bench@example.com", MobilePhoneNumber: "+34600112233",
		},
		PollInterval: contract.Duration(time.Hour),
	}
	types := []string{uanataca.DocumentFront, uanataca.DocumentRear, uanataca.DocumentOwner}
	for i := range docs {
		typ := uanataca.DocumentExtra
		if i < len(types) {
			typ = types[i]
		}
		content := make([]byte, size)
		if _, err := rand.Read(content); err != nil {
			return f, err
		}
		in.Documents = append(in.Documents, uanataca.Document{Type: typ, Filename: fmt.Sprintf("scan-%d.jpg", i), Content: content})
	}

	// certflow approves (the dev stack's RAO) once the documents are up;
	// the applicant is simulated to finish at once.
	s, stop, err := startStack(ctx, uasandbox.Options{RAs: map[string]int{"121": 10}, IssueAfter: time.Millisecond})
	if err != nil {
		return f, err
	}
	defer stop()
	if s.PayloadStore == nil {
		return f, errors.New("documents: the dev stack runs without a payload store")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	cf := certflowclient.New(s.Client, certflowclient.Options{TaskQueue: s.Config.TaskQueue, PayloadStore: true})
	id := issuanceIDs(1)[0] + "-documents"
	began := time.Now()
	run, err := cf.StartUanatacaIssuance(ctx, id, in)
	if errors.Is(err, certflowclient.ErrInputTooLarge) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	res, err := run.Result(ctx)
	f.Elapsed = time.Since(began)
	var appErr *temporal.ApplicationError
	f.Accepted = !(errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeInvalidInput)
	f.Issued = err == nil && res.Status == uanataca.StatusIssued
	if err != nil && f.Accepted {
		return f, fmt.Errorf("documents: the issuance failed: %w", err)
	}

	h, err := devstack.MeasureHistory(ctx, s.Client, id)
	if err != nil {
		return f, err
	}
	f.HistoryBytes = h.Bytes
	f.HistoryBytesPerDoc = (h.WorkflowInput + h.ActivityInputs["UploadUanatacaDocument"]) / docs
	return f, nil
}
