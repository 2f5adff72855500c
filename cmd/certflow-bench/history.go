package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	uasandbox "github.com/certflow/certflow/internal/sandbox/uanataca"
)

// runHistory counts the history events of one issuance that waits, polled,
// and receives webhooks as the RA sends them, duplicates included: the
// request created (CREATED, repeated), approved (ENROLLREADY, repeated),
// then issued (ISSUED). Polling is one activity whatever the wait lasts,
// so a short wait counts as a 30-day one. `make bench-history` runs it.
func runHistory(args []string) error {
	fs := flag.NewFlagSet("history", flag.ExitOnError)
	webhooks := fs.Int("webhooks", 20, "webhooks delivered, the last one ISSUED; the rest half CREATED, half ENROLLREADY")
	gap := fs.Duration("gap", 200*time.Millisecond, "time between two webhooks (each then has a workflow task of its own)")
	fs.Parse(args)
	f, err := measureHistory(context.Background(), *webhooks, *gap)
	if err != nil {
		return err
	}
	fmt.Println(f)
	return nil
}

// historyFigures is one issuance's history: its events, and the webhooks,
// signals, activities and workflow tasks among them.
type historyFigures struct {
	events, webhooks, signals, activities, tasks int
}

func (f historyFigures) String() string {
	return fmt.Sprintf("history: %d events for one issuance with %d webhooks (%d signals, %d activities, %d workflow tasks)", f.events, f.webhooks, f.signals, f.activities, f.tasks)
}

func measureHistory(ctx context.Context, webhooks int, gap time.Duration) (historyFigures, error) {
	f := historyFigures{webhooks: webhooks}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// The emulator's own webhooks go nowhere: only the ones sent here count.
	s, stop, err := startStack(ctx, uasandbox.Options{RAs: map[string]int{"121": 10}, WebhookURL: "http://127.0.0.1:1/unused", WebhookAttempts: 1})
	if err != nil {
		return f, err
	}
	defer stop()
	ids := issuanceIDs(1)
	pks, err := startWaiting(ctx, s, ids, 1)
	if err != nil {
		return f, err
	}
	target := s.WebhookURL
	if token := s.Config.Uanataca.WebhookToken; token != "" {
		target += "/" + url.PathEscape(token)
	}
	before := webhooks - 1
	for i := range webhooks {
		status := "CREATED"
		switch {
		case i == before:
			if err := s.Uanataca.Emulator.Complete(pks[0]); err != nil {
				return f, err
			}
			status = "ISSUED"
		case i == before/2:
			if err := s.Uanataca.Emulator.Approve(pks[0]); err != nil {
				return f, err
			}
			fallthrough
		case i > before/2:
			status = "ENROLLREADY"
		}
		if err := postWebhook(ctx, http.DefaultClient, target, pks[0], status); err != nil {
			return f, err
		}
		time.Sleep(gap)
	}
	if err := s.Client.GetWorkflow(ctx, ids[0], "").Get(ctx, nil); err != nil {
		return f, err
	}
	counts := map[enumspb.EventType]int{}
	total := 0
	it := s.Client.GetWorkflowHistory(ctx, ids[0], "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return f, err
		}
		counts[e.GetEventType()]++
		total++
	}
	f.events, f.signals = total, counts[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
	f.activities, f.tasks = counts[enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED], counts[enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
	return f, nil
}
