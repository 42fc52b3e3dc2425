package main

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/metrics"
	"ucp/store"
)

// newMetrics builds the server's metrics over its audit journal and, when
// the store can tell, its size.
func newMetrics(st store.Store, journal metrics.Journal) *metrics.Metrics {
	cfg := metrics.Config{Journal: journal}
	if sz, ok := st.(metrics.Sizer); ok {
		cfg.Store = sz
	}
	return metrics.New(cfg)
}

// serveMetrics serves /metrics without a token (it reveals no patient
// data): beside the API on e, or with --metrics-addr on a listener of its
// own (returned, to be closed with the server), so that it can be kept to
// a private network.
func serveMetrics(cfg serveConfig, m *metrics.Metrics, e *gin.Engine, log *slog.Logger) (*http.Server, error) {
	if cfg.MetricsAddr == "" {
		e.GET("/metrics", gin.WrapH(m.Handler()))
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	log.Info("metrics listening", "addr", ln.Addr().String())
	return srv, nil
}
