package workflows

import (
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// withoutDeadlockDetection runs fn, workflow code whose time grows with
// the input's size, with the SDK's deadlock detector paused: the detector
// fails a workflow task whose code runs more than a second without
// yielding, and decoding and hashing a Uanataca issuance's document scans
// (tens of MB of base64) takes about a third of a second on one core,
// several seconds under the race detector. fn stays deterministic and
// must not block; the workflow task's own timeout (10 s) still bounds it.
//
// The SDK offers the pause only around data conversion
// (workflow.DataConverterWithoutDeadlockDetection, which the worker's
// converter uses too), so fn runs as a converter's FromPayload: decoding
// the input strictly is the data conversion certflow moved into workflow
// code to name each wrong field.
func withoutDeadlockDetection(ctx workflow.Context, fn func()) {
	dc := workflow.DataConverterWithoutDeadlockDetection(runner{fn: fn})
	if aware, ok := dc.(workflow.ContextAware); ok {
		dc = aware.WithWorkflowContext(ctx)
	}
	_ = dc.FromPayload(nil, nil)
}

// runner is a converter whose FromPayload runs fn; nothing else of it is
// called.
type runner struct {
	converter.DataConverter
	fn func()
}

func (r runner) FromPayload(*commonpb.Payload, any) error {
	r.fn()
	return nil
}
