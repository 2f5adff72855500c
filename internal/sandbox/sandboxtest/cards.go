package sandboxtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/certflow/certflow/internal/provider"
	"github.com/certflow/certflow/internal/provider/uanataca"
)

// Cards is an RA's scratchcard pool, cards 1001..1000+total, for the tests
// of what finds unused cards (the fill activity, the allocator workflow).
// It answers the RA client's three scratchcard calls as the RA does (the
// lowest unused card; the list in pages of 10, ascending; isused), counts
// every call, and lets a test fail any of them.
type Cards struct {
	mu    sync.Mutex
	total int
	used  map[string]bool
	calls map[string]int
	// Fault, when set, sees each call before it is answered (op: "first",
	// "list" or "isused"; the card for isused; how many calls of op came
	// before) and may fail it, or panic to stand for a worker that dies
	// during the call. Set it before the calls start.
	Fault func(op, sn string, n int) error
}

// NewCards returns a pool of total cards, the given ones used.
func NewCards(total int, used ...string) *Cards {
	c := &Cards{total: total, used: map[string]bool{}, calls: map[string]int{}}
	for _, sn := range used {
		c.used[sn] = true
	}
	return c
}

// SN is the i-th card's serial number (1-based).
func (c *Cards) SN(i int) string { return fmt.Sprint(1000 + i) }

// Use marks card sn used, as a request created with it would.
func (c *Cards) Use(sn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[sn] = true
}

// Calls counts the calls of op so far.
func (c *Cards) Calls(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// call counts op and asks Fault; the caller holds mu.
func (c *Cards) call(op, sn string) error {
	n := c.calls[op]
	c.calls[op]++
	if c.Fault != nil {
		return c.Fault(op, sn, n)
	}
	return nil
}

// GetFirstUnusedScratchcard answers get_first_unused: the lowest unused
// card, or 404 when none is left.
func (c *Cards) GetFirstUnusedScratchcard(_ context.Context, _ string) (uanataca.Scratchcard, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call("first", ""); err != nil {
		return uanataca.Scratchcard{}, err
	}
	for i := 1; i <= c.total; i++ {
		if !c.used[c.SN(i)] {
			return uanataca.Scratchcard{SN: uanataca.FlexString(c.SN(i))}, nil
		}
	}
	return uanataca.Scratchcard{}, &provider.Error{Provider: "uanataca", StatusCode: 404, Message: "No scratchcards available"}
}

// ListScratchcards answers one page of the card list.
func (c *Cards) ListScratchcards(_ context.Context, _ string, page int) (uanataca.Page[uanataca.Scratchcard], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := uanataca.Page[uanataca.Scratchcard]{Count: c.total}
	if err := c.call("list", ""); err != nil {
		return p, err
	}
	for i := (page-1)*10 + 1; i <= min(page*10, c.total); i++ {
		p.Results = append(p.Results, uanataca.Scratchcard{SN: uanataca.FlexString(c.SN(i))})
	}
	if page*10 < c.total {
		next := fmt.Sprintf("?page=%d", page+1)
		p.Next = &next
	}
	return p, nil
}

// IsScratchcardUsed answers isused for card sn.
func (c *Cards) IsScratchcardUsed(_ context.Context, sn string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call("isused", sn); err != nil {
		return false, err
	}
	return c.used[sn], nil
}
