package activities

// pollUntilFinal reads a provider's state once and answers the polling
// retry loop: the state when it is final, else a benign retryable
// ProviderNotFinal error that schedules the next poll.
func pollUntilFinal[S any](read func() (S, error), final func(S) bool, describe func(S) string) (S, error) {
	s, err := read()
	if err != nil {
		return s, err
	}
	if !final(s) {
		return s, notFinal(describe(s))
	}
	return s, nil
}

// cancelThenRead cancels at the provider and returns the state it ends in.
// A cancel answered 404, 409 or 412 means already gone or already final:
// not a failure, the state is read and reported all the same.
func cancelThenRead[S any](cancel func() error, read func() (S, error)) (S, error) {
	if err := cancel(); err != nil && !alreadyFinal(err) {
		var zero S
		return zero, mapError(err)
	}
	return read()
}
