//go:build cluster

// Package cluster_test runs certflow in its production shape — PostgreSQL,
// the Temporal server on it, two worker processes and an ingress process —
// and disrupts it while 200 workflows are in flight. It needs PostgreSQL
// and the cluster tools (make postgres cluster-tools); `make test-cluster`
// builds them and runs it.
package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/cluster"
	"github.com/certflow/certflow/internal/devstack"
	"github.com/certflow/certflow/internal/provider/humanos"
	"github.com/certflow/certflow/internal/provider/masstack"
	"github.com/certflow/certflow/internal/provider/uanataca"
	"github.com/certflow/certflow/internal/provider/universign"
	husandbox "github.com/certflow/certflow/internal/sandbox/humanos"
	mssandbox "github.com/certflow/certflow/internal/sandbox/masstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
	ussandbox "github.com/certflow/certflow/internal/sandbox/universign"
)

// perKind workflows of each of the four kinds are in flight at once.
const perKind = 50

// loadSettle is how long the simulated people take under load: long
// enough for every disruption to happen while the workflows wait.
const loadSettle = 75 * time.Second

// root is the module's root, where the tools are built.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildWorker builds the worker binary of the module in src into dir.
func buildWorker(t *testing.T, src, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "certflow-worker")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/certflow-worker")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the worker in %s: %v\n%s", src, err, out)
	}
	return bin
}

// startCluster builds the worker binary and starts the stack on its own
// ports and state, with payloads encrypted as in production; the
// simulated people finish settle after each create.
func startCluster(t *testing.T, basePort int, workerEnv []string, settle time.Duration) *cluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	workerBin := buildWorker(t, root(t), dir)
	keys := "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, PGDir: filepath.Join(os.TempDir(), fmt.Sprintf("certflow-cluster-test-%d-%d", basePort, time.Now().UnixNano())),
		Bin: filepath.Join(root(t), ".tools", "cluster", "bin"), WorkerBin: workerBin, Ports: cluster.Ports{Base: basePort},
		CodecKeys: keys, WorkerEnv: workerEnv,
		Emulators: devstack.Options{
			Uanataca: uasandbox.Options{RAs: map[string]int{"121": perKind + 10}, AutoApproveAfter: time.Second, IssueAfter: settle,
				WebhookAttempts: 10, WebhookBackoff: 500 * time.Millisecond},
			Universign: ussandbox.Options{CompleteAfter: settle},
			MasStack:   mssandbox.Options{StartAfter: settle / 2, CompleteAfter: settle},
			Humanos:    husandbox.Options{DecideAfter: settle, CreateLimit: 10 * perKind},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("stopping the cluster: %v", err)
		}
		if t.Failed() {
			for _, name := range []string{"worker-1", "worker-2", "ingress", "temporal-server"} {
				if b, err := os.ReadFile(c.LogPath(name)); err == nil {
					t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(b, 3000))
				}
			}
		}
		os.RemoveAll(c.Postgres.Dir)
	})
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// flight is one started workflow and the outcome it must reach.
type flight struct {
	run  client.WorkflowRun
	kind string
}

// startLoad starts perKind workflows of each kind at once.
func startLoad(t *testing.T, c *cluster.Cluster, prefix string) []flight {
	t.Helper()
	inputs := map[string]func(i int) any{
		contract.UanatacaIssuanceName: func(i int) any {
			return contract.UanatacaIssuanceInput{Request: uanataca.CreateRequest{
				Profile: "PFnubeAFCiudadano", ValidityTime: 365, SecureElement: "2", RegistrationAuthority: "121",
				IDDocumentType: "IDC", IDDocumentCountry: "ES", SerialNumber: fmt.Sprintf("%08dZ", i), GivenName: "Ana",
				Surname1: "Ruiz", Email: fmt.Sprintf("applicant%d@example.com", i), MobilePhoneNumber: "+34600112233",
			}, Timeout: contract.Duration(15 * time.Minute)}
		},
		contract.UniversignRegistrationName: func(i int) any {
			return contract.UniversignRegistrationInput{Registration: universign.CreateRegistration{
				Applicant: fmt.Sprintf("applicant%d@example.com", i), Level: "qcp", Language: "es",
			}, PollInterval: contract.Duration(5 * time.Second)}
		},
		contract.MasStackIdentificationName: func(i int) any {
			return contract.MasStackIdentificationInput{Identification: masstack.CreateIdentification{
				Name: "Ana", LastName: "Ruiz", ConfigurationName: "MEDIUM",
				IdentityDocument: masstack.IdentityDocument{DocumentNumber: fmt.Sprintf("%08dZ", i), DocumentType: "NIF", Country: "ES"},
			}, PollInterval: contract.Duration(5 * time.Second)}
		},
		contract.HumanosRequestName: func(i int) any {
			return contract.HumanosRequestInput{Request: humanos.CreateRequest{
				Contacts: []string{fmt.Sprintf("applicant%d@example.com", i)}, ResourcesIDs: []string{"507f1f77bcf86cd799439012"},
			}, PollInterval: contract.Duration(5 * time.Second)}
		},
	}
	var (
		mu      sync.Mutex
		flights []flight
		wg      sync.WaitGroup
	)
	for kind, input := range inputs {
		for i := range perKind {
			wg.Go(func() {
				run, err := c.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
					ID: fmt.Sprintf("%s-%s-%d", prefix, kind, i), TaskQueue: "certflow",
				}, kind, input(i))
				if err != nil {
					t.Errorf("starting %s %d: %v", kind, i, err)
					return
				}
				mu.Lock()
				flights = append(flights, flight{run, kind})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return flights
}

// step runs one disruption and logs how long it took.
func step(t *testing.T, what string, do func() error) {
	t.Helper()
	start := time.Now()
	if err := do(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%-45s %5.1fs", what, time.Since(start).Seconds())
}

// restart stops p gracefully and starts it again, ready.
func restart(c *cluster.Cluster, p *cluster.Process, url string) error {
	if err := p.Stop(45 * time.Second); err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	return cluster.WaitReady(context.Background(), p, strings.TrimPrefix(url, "http://"))
}

// TestClusterSurvivesDeploysCrashesAndRestarts: 200 workflows of the four
// kinds wait at their providers while both workers are restarted one
// after the other (SIGTERM, graceful drain), one is killed with SIGKILL,
// the ingress is restarted while webhooks arrive, and PostgreSQL is
// restarted. Every workflow must reach its provider's success, with one
// object per workflow at every emulator, no scratchcard used twice, and
// every webhook answered 2xx delivered to its workflow.
func TestClusterSurvivesDeploysCrashesAndRestarts(t *testing.T) {
	c := startCluster(t, 29432, nil, loadSettle)
	began := time.Now()
	flights := startLoad(t, c, "load")
	t.Logf("%d workflows started in %.1fs", len(flights), time.Since(began).Seconds())

	for i, w := range c.Workers {
		step(t, fmt.Sprintf("rolling restart of worker-%d (SIGTERM)", i+1), func() error { return restart(c, w, c.WorkerURL(i)) })
	}
	step(t, "kill -9 of worker-1, then start", func() error {
		c.Workers[0].Kill()
		if err := c.Workers[0].Start(); err != nil {
			return err
		}
		return cluster.WaitReady(context.Background(), c.Workers[0], strings.TrimPrefix(c.WorkerURL(0), "http://"))
	})
	step(t, "restart of PostgreSQL", func() error { return c.Postgres.Restart(context.Background()) })
	// The people finish from now on: their webhooks arrive while the
	// ingress restarts, three times over the seconds they take.
	for i := range 3 {
		time.Sleep(time.Until(began.Add(loadSettle + time.Duration(2*i+1)*time.Second)))
		step(t, fmt.Sprintf("restart %d of the ingress while webhooks arrive", i+1), func() error { return restart(c, c.Ingress, c.IngressURL()) })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ok, cards := map[string]int{}, map[string]string{}
	for _, f := range flights {
		var res struct {
			Status, Outcome, State, Scratchcard string
		}
		if err := f.run.Get(ctx, &res); err != nil {
			t.Errorf("%s %s: %v", f.kind, f.run.GetID(), err)
			continue
		}
		if other, dup := cards[res.Scratchcard]; res.Scratchcard != "" && dup {
			t.Errorf("scratchcard %s used by %s and %s", res.Scratchcard, other, f.run.GetID())
		}
		cards[res.Scratchcard] = f.run.GetID()
		ok[f.kind]++
	}
	t.Logf("reached their outcome after %.1fs: %v", time.Since(began).Seconds(), ok)
	for kind := range ok {
		if ok[kind] != perKind {
			t.Errorf("%s: %d of %d succeeded", kind, ok[kind], perKind)
		}
	}

	emu := c.Emulators
	creates := map[string]int64{
		"Uanataca requests": emu.Uanataca.Emulator.Stats().Creates, "Universign registrations": emu.Universign.Emulator.Stats().Creates,
		"MasStack identifications": emu.MasStack.Emulator.Stats().Creates, "Humanos requests": emu.Humanos.Emulator.Stats().Creates,
	}
	for what, n := range creates {
		if n != perKind {
			t.Errorf("%d %s created for %d workflows: want exactly one each", n, what, perKind)
		}
	}
	accepted := emu.Uanataca.Emulator.Stats().WebhooksSent + emu.Humanos.Emulator.Stats().WebhooksSent
	givenUp := emu.Uanataca.Emulator.Stats().WebhooksFailed + emu.Humanos.Emulator.Stats().WebhooksFailed
	signals := webhookSignals(t, c, flights)
	t.Logf("objects created %v; webhooks answered 2xx %d (given up after every retry: %d), webhook signals in histories %d", creates, accepted, givenUp, signals)
	if signals < accepted {
		t.Errorf("%d webhooks answered 2xx but only %d reached a workflow: %d lost", accepted, signals, accepted-signals)
	}
}

// webhookSignals counts the webhook signals the workflows' histories hold.
func webhookSignals(t *testing.T, c *cluster.Cluster, flights []flight) int64 {
	t.Helper()
	var n int64
	for _, f := range flights {
		it := c.Client.GetWorkflowHistory(context.Background(), f.run.GetID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == contract.SignalWebhook {
				n++
			}
		}
	}
	return n
}
