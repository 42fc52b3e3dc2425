package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/postgres/pgtest"
	"ucp/store/storetest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func mustOpen(tb testing.TB, conn string) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, conn, postgres.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, cluster.Database(t))
	})
}
