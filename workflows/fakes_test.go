package workflows

import (
	"encoding/json"
	"net/http"

	"github.com/certflow/certflow/internal/provider"
)

// polledFake is the one object a polled lifecycle creates (a Universign
// registration, a MasStack identification), whose status the test moves.
// Like the providers, a cancel moves a pending object to cancelTo and
// answers 409 once it is final.
type polledFake[T any] struct {
	scripted
	provider string
	obj      T
	// status points at the object's status field.
	status   func(*T) *string
	pending  func(string) bool
	cancelTo string
	// reasons records each cancel's reason.
	reasons []string
}

func (f *polledFake[T]) create(v T) (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create"); err != nil {
		var zero T
		return zero, err
	}
	f.obj = v
	return v, nil
}

func (f *polledFake[T]) get() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("get"); err != nil {
		var zero T
		return zero, err
	}
	return f.obj, nil
}

func (f *polledFake[T]) cancel(reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cancel"); err != nil {
		return err
	}
	f.reasons = append(f.reasons, reason)
	if s := f.status(&f.obj); !f.pending(*s) {
		return &provider.Error{Provider: f.provider, StatusCode: http.StatusConflict, Message: "already final"}
	}
	*f.status(&f.obj) = f.cancelTo
	return nil
}

// set moves the object to status, as the person or the provider would.
func (f *polledFake[T]) set(status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.status(&f.obj) = status
}

func (f *polledFake[T]) current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.status(&f.obj)
}

// asJSON is a workflow input as a service sends it: JSON (the workflows
// decode their input themselves).
func asJSON(in any) json.RawMessage {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err) // a test's input struct always marshals
	}
	return b
}
