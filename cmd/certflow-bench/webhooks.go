package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/contract"
	"github.com/certflow/certflow/internal/devstack"
	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// pollActivity is the activity a waiting Uanataca issuance keeps pending
// between polls; any other pending activity means it is still working.
const pollActivity = "AwaitUanatacaRequest"

// runWebhooks measures the Uanataca webhook ingress: it starts N
// issuances that wait (the emulator neither approves nor issues), fires one
// legacy-format webhook per issuance at the worker's ingress with c
// concurrent senders, then, as the baseline, signals each issuance
// directly the same way. The ingress answers only once Temporal accepted
// the signal, so a POST's round trip is the webhook-to-signal latency, and
// the difference to the baseline is what the lookup by search attribute
// and the HTTP hop cost. `make bench-webhooks` runs it.
func runWebhooks(args []string) error {
	fs := flag.NewFlagSet("webhooks", flag.ExitOnError)
	n := fs.Int("n", 200, "waiting issuances; one webhook and one direct signal each")
	c := fs.Int("c", 16, "concurrent senders")
	fs.Parse(args)
	if *n < 1 || *c < 1 {
		return errors.New("-n and -c must be at least 1")
	}
	f, err := measureWebhooks(context.Background(), *n, *c)
	fmt.Printf("webhooks: %d to waiting issuances, %d accepted, %d refused\n", f.n, len(f.ingress.latencies), f.ingress.failed())
	printRate("ingress:", "webhooks/s", f.ingress)
	printRate("direct signal:", "signals/s", f.direct)
	return err
}

// webhookFigures is n webhooks at the ingress beside n direct signals.
type webhookFigures struct {
	n               int
	ingress, direct timings
}

func measureWebhooks(ctx context.Context, n, c int) (webhookFigures, error) {
	f := webhookFigures{n: n}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// The emulator's own webhooks (it sends one when a request is created)
	// go to a closed port, once: left empty, the dev stack would point them
	// at the ingress, and they would mix with the ones measured.
	s, stop, err := startStack(ctx, uasandbox.Options{
		RAs: map[string]int{"121": n + 10}, WebhookURL: "http://127.0.0.1:1/unused", WebhookAttempts: 1,
	})
	if err != nil {
		return f, err
	}
	defer stop() // the issuances go with the dev server, which keeps nothing
	ids := issuanceIDs(n)
	pks, err := startWaiting(ctx, s, ids, c)
	if err != nil {
		return f, err
	}

	// The ingress wants the URL token the RA is given, when one is set.
	target := s.WebhookURL
	if token := s.Config.Uanataca.WebhookToken; token != "" {
		target += "/" + url.PathEscape(token)
	}
	// As many idle connections as senders: the default two per host would
	// have most POSTs open a new connection, and measure that.
	senders := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	if err := settle(ctx, s.Client, ids, c); err != nil {
		return f, err
	}
	ingress := measure(n, c, func(i int) error { return postWebhook(ctx, senders, target, pks[i], "ENROLLREADY") })
	// Each webhook makes its issuance re-read the request; that work is
	// done before the baseline starts, so it does not slow the baseline.
	if err := settle(ctx, s.Client, ids, c); err != nil {
		return f, err
	}
	direct := measure(n, c, func(i int) error {
		// Another status than the webhook's, so the issuance takes it as a
		// new hint and does the same work as for the webhook.
		return s.Client.SignalWorkflow(ctx, ids[i], "", contract.SignalWebhook, contract.UanatacaWebhook{PK: pks[i], Status: "VIDEOREVIEW"})
	})

	f.ingress, f.direct = ingress, direct
	return f, errors.Join(ingress.err("webhooks"), direct.err("direct signals"))
}

// startWaiting starts the issuances and returns their request pks once
// every one has recorded its pk and visibility lists it, so that the
// ingress finds each at its first lookup instead of measuring its retries.
func startWaiting(ctx context.Context, s *devstack.Stack, ids []string, c int) ([]int64, error) {
	pks := make([]int64, len(ids))
	started := measure(len(ids), c, func(i int) error {
		_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: s.Config.TaskQueue},
			contract.UanatacaIssuanceName, input(i))
		if err != nil {
			return err
		}
		return poll(ctx, 2*time.Minute, func() (bool, error) {
			v, err := s.Client.QueryWorkflow(ctx, ids[i], "", contract.QueryStatus)
			var st contract.Status
			if err == nil {
				err = v.Get(&st)
			}
			if err != nil || st.ProviderRef == "" {
				return false, err
			}
			pks[i], err = strconv.ParseInt(st.ProviderRef, 10, 64)
			return err == nil, err
		})
	})
	if err := started.err("issuances"); err != nil {
		return nil, err
	}
	query := contract.SearchProviderRef.GetName() + " IS NOT NULL AND ExecutionStatus = 'Running'"
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		r, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && r.GetCount() >= int64(len(ids)), err
	})
	if err != nil {
		return nil, fmt.Errorf("visibility listing the issuances: %w", err)
	}
	return pks, nil
}

// settle waits until every issuance is idle again: no workflow task
// pending and no activity but its poll, so that a phase measures its own
// signals and not the work the previous one left behind.
func settle(ctx context.Context, c client.Client, ids []string, concurrency int) error {
	return measure(len(ids), concurrency, func(i int) error {
		return poll(ctx, 2*time.Minute, func() (bool, error) {
			d, err := c.DescribeWorkflowExecution(ctx, ids[i], "")
			if err != nil || d.GetPendingWorkflowTask() != nil {
				return false, err
			}
			for _, a := range d.GetPendingActivities() {
				if a.GetActivityType().GetName() != pollActivity {
					return false, nil
				}
			}
			return true, nil
		})
	}).err("issuances settling")
}

// poll calls check every 100ms until it reports done, for at most within;
// on giving up it returns the last error check gave.
func poll(ctx context.Context, within time.Duration, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		done, err := check()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting (last error: %v)", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// postWebhook sends the legacy-format webhook Uanataca sends when request
// pk reaches status, and wants the 200 the ingress answers once the
// issuance's signal is accepted.
func postWebhook(ctx context.Context, hc *http.Client, target string, pk int64, status string) error {
	body, err := json.Marshal(map[string]any{
		"status": status, "date": time.Now().UTC().Format("2006-01-02T15:04:05.000000"),
		"request": pk, "registration_authority": 121,
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("request %d: %s: %s", pk, resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}

// printRate prints a phase's successful calls per second and their
// latency.
func printRate(label, unit string, t timings) {
	fmt.Printf("%-15s%5.1f %-13slatency p50 %s  p99 %s\n", label, float64(len(t.latencies))/t.elapsed.Seconds(), unit,
		percentile(t.latencies, 50), percentile(t.latencies, 99))
}
