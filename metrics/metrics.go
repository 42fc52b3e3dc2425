// Package metrics exposes ucp's operational metrics in the Prometheus text
// format: requests by FHIR interaction, resource type and status with their
// latency, the audit journal's backlog and the store's size. Nothing in it
// identifies a patient or a resource: labels are interaction codes, type
// names and statuses, so their number stays bounded whatever is stored.
//
// Each Metrics has its own registry (never the process-wide default), so
// two servers in one process, as in tests, count apart.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Journal is the audit journal: how many events wait to be drained into
// the store. A backlog that grows means the store is not keeping up, and
// those events are not yet searchable.
type Journal interface {
	Pending() int
}

// Sizer reports the store's size in bytes.
type Sizer interface {
	Size(ctx context.Context) (int64, error)
}

// Config says where the gauges read from; either may be nil.
type Config struct {
	Journal Journal
	Store   Sizer
}

// Metrics counts requests and serves every metric.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
}

// sizeTimeout bounds the store query a scrape makes.
const sizeTimeout = 2 * time.Second

// New returns Metrics with its own registry.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ucp_http_request_duration_seconds",
		Help: "FHIR API requests by interaction ($name for an operation, none when no interaction was reached), resource type and HTTP status, and how long they took.",
		// From a cached point read (well under a millisecond) to a large
		// export kick-off or transaction.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"interaction", "type", "status"})
	m.reg.MustRegister(m.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Journal != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ucp_audit_journal_pending_events",
			Help: "AuditEvents durable in the journal but not yet drained into the store.",
		}, func() float64 { return float64(cfg.Journal.Pending()) }))
	}
	if cfg.Store != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ucp_store_size_bytes",
			Help: "Size of the store's database (-1 when it could not be read).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), sizeTimeout)
			defer cancel()
			n, err := cfg.Store.Size(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// ObserveRequest implements rest.RequestObserver.
func (m *Metrics) ObserveRequest(interaction, typ string, status int, d time.Duration) {
	if interaction == "" {
		interaction = "none"
	}
	m.requests.WithLabelValues(interaction, typ, strconv.Itoa(status)).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Outbox is a queue of jobs for a national service (the NRL publisher): how
// many wait and for how long the oldest has.
type Outbox interface {
	Depth() int
	OldestAge() time.Duration
}

// WatchOutbox adds the depth and oldest job's age of an outbox, named name
// (e.g. "nrl"): a queue that grows, or a job that ages past hours, means a
// national service is not getting what ucp publishes.
func (m *Metrics) WatchOutbox(name string, o Outbox) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ucp_outbox_jobs", Help: "Outbox jobs not yet sent (pending or being sent), at the publisher's last pass.",
			ConstLabels: prometheus.Labels{"outbox": name},
		}, func() float64 { return float64(o.Depth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ucp_outbox_oldest_job_age_seconds", Help: "Age of the oldest outbox job not yet sent (0 when none).",
			ConstLabels: prometheus.Labels{"outbox": name},
		}, func() float64 { return o.OldestAge().Seconds() }),
	)
}
