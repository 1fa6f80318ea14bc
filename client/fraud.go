package client

import (
	"context"
	"net/http"

	"github.com/otpd/otpd/client/internal/oapi"
)

// FraudBlocks lists the number ranges and countries the fraud guard has
// blocked, oldest first.
func (c *Client) FraudBlocks(ctx context.Context) ([]FraudBlock, error) {
	out, err := do[struct{ Blocks []oapi.FraudBlock }](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.ListFraudBlocks(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	blocks := make([]FraudBlock, len(out.Blocks))
	for i, b := range out.Blocks {
		blocks[i] = fraudBlock(b)
	}
	return blocks, nil
}

// LiftFraudBlock ends the block of a range ("+14155552") or a country
// ("US") now, and restarts its counts; a block not in force is a 404
// not_found.
func (c *Client) LiftFraudBlock(ctx context.Context, name string) (FraudBlock, error) {
	out, err := do[struct{ Block oapi.FraudBlock }](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.LiftFraudBlock(ctx, name, nil)
	})
	if err != nil {
		return FraudBlock{}, err
	}
	return fraudBlock(out.Block), nil
}

// SafeList lists the safe list: FRAUD_SAFE_LIST and the entries added
// through the API.
func (c *Client) SafeList(ctx context.Context) ([]SafeListEntry, error) {
	out, err := do[struct{ Entries []oapi.SafeListEntry }](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.ListSafeList(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	entries := make([]SafeListEntry, len(out.Entries))
	for i, e := range out.Entries {
		entries[i] = safeListEntry(e)
	}
	return entries, nil
}

// AddSafeListEntry puts a number or a "+digits" prefix on the safe list.
func (c *Client) AddSafeListEntry(ctx context.Context, entry string) (SafeListEntry, error) {
	return convert(safeListEntry)(do[oapi.SafeListEntry](ctx, c, true, http.StatusOK, func(ctx context.Context) (*http.Response, error) {
		return c.api.AddSafeListEntry(ctx, entry, nil)
	}))
}

// RemoveSafeListEntry takes an entry off the safe list; an entry of
// FRAUD_SAFE_LIST is a 409 safe_list_fixed.
func (c *Client) RemoveSafeListEntry(ctx context.Context, entry string) error {
	_, err := do[struct{}](ctx, c, true, http.StatusNoContent, func(ctx context.Context) (*http.Response, error) {
		return c.api.RemoveSafeListEntry(ctx, entry, nil)
	})
	return err
}
