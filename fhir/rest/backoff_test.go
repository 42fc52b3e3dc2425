package rest

import (
	"context"
	"errors"
	"testing"
)

// A write that lost a race is retried only while its request lasts: once
// the request has ended, the wait before the next attempt ends at once with
// the request's error.
func TestBackoffWatchesTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A long wait (up to an hour) that only the cancelled context can cut
	// short: were it ignored, the test would hang, not pass.
	if err := backoff(ctx, 3_600_000); !errors.Is(err, context.Canceled) {
		t.Errorf("backoff under a cancelled context = %v, want context.Canceled", err)
	}
	if err := backoff(context.Background(), 1); err != nil {
		t.Errorf("backoff = %v, want nil", err)
	}
}
