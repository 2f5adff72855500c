package uanataca_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/sandbox/devpki"
	sandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// startEmulator serves the sandbox RA over mutual TLS (client certificate
// required) with one RA, "121", holding cards scratchcards, and returns a
// client configured the way the worker configures it: from PEM files.
func startEmulator(t *testing.T, cards int) (*uanataca.Client, *sandbox.Server, *devpki.PKI) {
	t.Helper()
	pki, err := devpki.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.Start("127.0.0.1:0", sandbox.Options{
		RAs:               map[string]int{"121": cards},
		RequireClientCert: true,
	}, pki)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := uanataca.New(uanataca.Config{
		BaseURL:  srv.URL,
		CertFile: pki.ClientCertFile,
		KeyFile:  pki.ClientKeyFile,
		CAFile:   pki.CAFile,
		Timeout:  10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, pki
}

// citizenRequest is a complete PFnubeAFCiudadano request on card sn.
func citizenRequest(sn uanataca.FlexString) uanataca.CreateRequest {
	return uanataca.CreateRequest{
		Profile:               "PFnubeAFCiudadano",
		ValidityTime:          730,
		Scratchcard:           string(sn),
		SecureElement:         "2",
		RegistrationAuthority: "121",
		CountryName:           "ES",
		SerialNumber:          "12345678Z",
		IDDocumentCountry:     "ES",
		IDDocumentType:        "IDC",
		GivenName:             "Name",
		Surname1:              "Surname1",
		Email:                 "mail@domain.com",
		MobilePhoneNumber:     "+34611223344",
		PaperlessMode:         1,
	}
}

// rao is the emulator's default RAO, as pl_approve expects it.
func rao(t *testing.T) uanataca.Approval {
	t.Helper()
	id, err := strconv.Atoi(sandbox.DefaultRAO.RAOID)
	if err != nil {
		t.Fatal(err)
	}
	return uanataca.Approval{
		Username: sandbox.DefaultRAO.Username,
		Password: sandbox.DefaultRAO.Password,
		PIN:      sandbox.DefaultRAO.PIN,
		RAOID:    id,
	}
}

// TestEmulatorClassicWorkflow runs the whole classic workflow against the
// emulator: the client and the emulator were both written from the guide,
// independently, so agreement here is evidence both read it right.
func TestEmulatorClassicWorkflow(t *testing.T) {
	ctx := context.Background()
	c, _, _ := startEmulator(t, 3)

	card, err := c.GetFirstUnusedScratchcard(ctx, "121")
	if err != nil {
		t.Fatalf("GetFirstUnusedScratchcard: %v", err)
	}
	if card.SN == "" || card.RegistrationAuthority != "121" {
		t.Fatalf("card = %+v", card)
	}
	if used, err := c.IsScratchcardUsed(ctx, string(card.SN)); err != nil || used {
		t.Fatalf("IsScratchcardUsed before create = %v, %v; want false", used, err)
	}

	created, err := c.CreateRequest(ctx, citizenRequest(card.SN))
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	if created.PK == 0 || created.Status != uanataca.StatusCreated || created.Scratchcard != card.SN {
		t.Fatalf("created = %+v", created)
	}
	if used, err := c.IsScratchcardUsed(ctx, string(card.SN)); err != nil || !used {
		t.Fatalf("IsScratchcardUsed after create = %v, %v; want true", used, err)
	}

	got, err := c.GetRequest(ctx, created.PK)
	if err != nil || got.PK != created.PK || got.Status != uanataca.StatusCreated {
		t.Fatalf("GetRequest = %+v, %v", got, err)
	}

	found, err := c.ListRequestsByScratchcard(ctx, string(card.SN))
	if err != nil {
		t.Fatalf("ListRequestsByScratchcard: %v", err)
	}
	if len(found) != 1 || found[0].PK != created.PK {
		t.Fatalf("ListRequestsByScratchcard = %+v, want request %d", found, created.PK)
	}

	// Approval needs both sides of the ID card.
	if _, err := c.Approve(ctx, created.PK, rao(t)); provider.StatusOf(err) != 400 {
		t.Fatalf("Approve without documents: %v, want HTTP 400", err)
	}
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, make([]byte, 128)...)
	for _, side := range []string{uanataca.DocumentFront, uanataca.DocumentRear} {
		up, err := c.UploadDocument(ctx, created.PK, uanataca.Document{Type: side, Filename: side + ".jpg", Content: jpeg})
		if err != nil {
			t.Fatalf("UploadDocument %s: %v", side, err)
		}
		if up.PK == 0 || up.Type != side {
			t.Errorf("UploadDocument %s = %+v", side, up)
		}
	}

	approved, err := c.Approve(ctx, created.PK, rao(t))
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if approved.PK != created.PK || approved.Status != uanataca.StatusEnrollReady {
		t.Fatalf("Approve = %+v, want ENROLLREADY", approved)
	}
	if got, err := c.GetRequest(ctx, created.PK); err != nil || got.Status != uanataca.StatusEnrollReady {
		t.Fatalf("GetRequest after approval = %+v, %v", got, err)
	}

	if err := c.CancelRequest(ctx, created.PK); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	got, err = c.GetRequest(ctx, created.PK)
	if err != nil || got.Status != uanataca.StatusCancelled {
		t.Fatalf("GetRequest after cancel = %+v, %v", got, err)
	}
	if uanataca.OutcomeOf(got.Status) != uanataca.OutcomeCancelled {
		t.Errorf("OutcomeOf(%s) = %v", got.Status, uanataca.OutcomeOf(got.Status))
	}

	// A scratchcard is single-use: creating again with it fails the way the
	// real RA fails a racing second caller.
	_, err = c.CreateRequest(ctx, citizenRequest(card.SN))
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("second CreateRequest: %v, want a *provider.Error", err)
	}
	if pe.StatusCode != 500 || pe.Message != "Invalid ScratchCard" || pe.Operation != "create_request" || pe.ID == "" {
		t.Errorf("second CreateRequest: %#v", pe)
	}
}

// TestEmulatorCancelAfterIssue: once the applicant generated the
// certificate the RA refuses to cancel, with 412.
func TestEmulatorCancelAfterIssue(t *testing.T) {
	ctx := context.Background()
	c, srv, _ := startEmulator(t, 1)

	card, err := c.GetFirstUnusedScratchcard(ctx, "121")
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateRequest(ctx, citizenRequest(card.SN))
	if err != nil {
		t.Fatal(err)
	}
	// The RAO approves in the RA's web UI, the applicant completes the
	// generation page.
	if err := srv.Emulator.Approve(created.PK); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emulator.Complete(created.PK); err != nil {
		t.Fatal(err)
	}
	issued, err := c.GetRequest(ctx, created.PK)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Status != uanataca.StatusIssued || len(issued.CertificateSet) == 0 || issued.CertificateSet[0].SerialNumber == "" {
		t.Fatalf("issued = %+v", issued)
	}

	err = c.CancelRequest(ctx, created.PK)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != 412 || pe.Operation != "cancel_request" || pe.Message == "" {
		t.Fatalf("CancelRequest after issue: %v, want a 412 *provider.Error", err)
	}

	if _, err := c.GetRequest(ctx, created.PK+1000); provider.StatusOf(err) != 404 {
		t.Errorf("GetRequest of an unknown pk: %v, want HTTP 404", err)
	}
}

// TestEmulatorRequiresClientCertificate: without the API user's certificate
// the handshake fails, before any HTTP status.
func TestEmulatorRequiresClientCertificate(t *testing.T) {
	_, srv, pki := startEmulator(t, 1)
	anonymous, err := uanataca.New(uanataca.Config{BaseURL: srv.URL, CAFile: pki.CAFile, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anonymous.GetFirstUnusedScratchcard(context.Background(), "121")
	if err == nil || provider.StatusOf(err) != 0 {
		t.Fatalf("client without certificate: %v, want a handshake failure", err)
	}
}

// TestEmulatorInjectedFaults: the emulator's throttling and server errors
// reach the caller as provider errors with the RA's delay and message.
func TestEmulatorInjectedFaults(t *testing.T) {
	ctx := context.Background()
	c, srv, _ := startEmulator(t, 1)

	srv.Emulator.SetFaults(sandbox.Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second})
	_, err := c.GetFirstUnusedScratchcard(ctx, "121")
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != 429 || pe.RetryAfter != 3*time.Second {
		t.Fatalf("throttled call: %#v (%v), want 429 with RetryAfter 3s", pe, err)
	}

	srv.Emulator.SetFaults(sandbox.Faults{ErrorRate: 1})
	_, err = c.GetFirstUnusedScratchcard(ctx, "121")
	if !errors.As(err, &pe) || pe.StatusCode < 500 || pe.Message == "" || pe.Operation != "get_first_unused_scratchcard" {
		t.Fatalf("failing call: %#v (%v), want a 5xx provider error", pe, err)
	}

	srv.Emulator.SetFaults(sandbox.Faults{})
	if _, err := c.GetFirstUnusedScratchcard(ctx, "121"); err != nil {
		t.Fatalf("after faults cleared: %v", err)
	}
}

func TestListScratchcardsPagesAgainstEmulator(t *testing.T) {
	pki, err := devpki.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.Start("127.0.0.1:0", sandbox.Options{RAs: map[string]int{"121": 25}, RequireClientCert: true}, pki)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := uanataca.New(uanataca.Config{BaseURL: srv.URL, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, CAFile: pki.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	var sns []string
	for page := 1; page <= 3; page++ {
		p, err := c.ListScratchcards(context.Background(), "121", page)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if p.Count != 25 || (page < 3) != (p.Next != nil) {
			t.Fatalf("page %d: count %d, next %v", page, p.Count, p.Next)
		}
		for _, card := range p.Results {
			sns = append(sns, string(card.SN))
		}
	}
	first, err := c.GetFirstUnusedScratchcard(context.Background(), "121")
	if err != nil {
		t.Fatal(err)
	}
	if len(sns) != 25 || sns[0] != string(first.SN) || !slices.IsSorted(sns) {
		t.Fatalf("listed %d cards %v; want 25 in ascending order starting with the first unused %s", len(sns), sns, first.SN)
	}
}

// Scans of real size go through the client and the emulator whole: a
// 10 MiB document (certflow's limit for one) arrives byte for byte, and
// one above the emulator's limit is refused with a 400 that says why.
func TestEmulatorTakesRealSizeScans(t *testing.T) {
	ctx := context.Background()
	c, srv, _ := startEmulator(t, 1)
	card, err := c.GetFirstUnusedScratchcard(ctx, "121")
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateRequest(ctx, citizenRequest(card.SN))
	if err != nil {
		t.Fatal(err)
	}
	scan := make([]byte, 10<<20)
	if _, err := rand.Read(scan); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadDocument(ctx, created.PK, uanataca.Document{Type: uanataca.DocumentFront, Filename: "front.jpg", Content: scan}); err != nil {
		t.Fatalf("uploading 10 MiB: %v", err)
	}
	sum := sha256.Sum256(scan)
	got := srv.Emulator.Uploads(created.PK)
	if len(got) != 1 || got[0] != (sandbox.Upload{Type: uanataca.DocumentFront, Size: 10 << 20, SHA256: hex.EncodeToString(sum[:])}) {
		t.Fatalf("the emulator received %+v, want the scan byte for byte", got)
	}

	_, err = c.UploadDocument(ctx, created.PK, uanataca.Document{Type: uanataca.DocumentRear, Filename: "rear.jpg", Content: make([]byte, 33<<20)})
	if provider.StatusOf(err) != 400 || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("uploading 33 MiB: %v, want 400 saying it is too large", err)
	}
}
