package activities

// pollUntilFinal reads a provider's state once and answers the polling
// retry loop: the state when its verdict is final, else a benign retryable
// ProviderNotFinal error that schedules the next poll.
func pollUntilFinal[S any](what string, read func() (S, error), judge func(S) Verdict) (S, error) {
	s, err := read()
	if err != nil {
		return s, err
	}
	if v := judge(s); !v.Final() {
		return s, notFinal(what + " is " + v.Status)
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
