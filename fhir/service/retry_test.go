package service

import (
	"context"
	"testing"
	"time"
)

// A write that lost a race is retried only while its request lasts: once
// the request has ended, the wait before the next attempt gives up at once.
func TestRetryWatchesTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := retrier{ctx: ctx, timeout: time.Hour}
	if r.wait() {
		t.Error("a retry under a cancelled context waited and went on")
	}
	r = retrier{ctx: context.Background(), timeout: time.Hour}
	if !r.wait() {
		t.Error("a retry with time left gave up")
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	r = retrier{ctx: past, timeout: time.Hour}
	if r.wait() {
		t.Error("a retry past the request's deadline went on")
	}
}
