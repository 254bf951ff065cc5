package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

// metrics is the Prometheus side of twostep.Metrics and notify.Metrics. Labels
// are methods, outcomes, channels and kinds: never an account identifier.
type metrics struct {
	reg         *prometheus.Registry
	signIns     *prometheus.CounterVec
	secondSteps *prometheus.CounterVec
	trips       *prometheus.CounterVec
	delivered   *prometheus.HistogramVec
	failed      *prometheus.CounterVec
	verify      *prometheus.CounterVec
	requests    *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twostep_sign_ins_total",
		Help: "First steps (password) by outcome."}, []string{"outcome"})
	m.secondSteps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twostep_second_steps_total",
		Help: "Second-step submissions by method and outcome."}, []string{"method", "outcome"})
	m.trips = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twostep_throttle_trips_total",
		Help: "Throttles that locked and sending caps that refused, by kind."}, []string{"kind"})
	m.delivered = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "twostep_delivery_seconds",
		Help:    "Time from queueing a message to its delivery, by channel.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}}, []string{"channel"})
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twostep_delivery_failures_total",
		Help: "Failed delivery attempts by channel; final=true when the message was given up."}, []string{"channel", "final"})
	m.verify = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twostep_verify_requests_total",
		Help: "Verify API requests by operation, channel and outcome."}, []string{"operation", "channel", "outcome"})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "twostep_http_request_seconds",
		Help: "Server time of HTTP requests (from the request's headers read to the handler's return), by route: " +
			"the routes of the hot paths, everything else as other.",
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}}, []string{"route"})
	m.reg.MustRegister(m.signIns, m.secondSteps, m.trips, m.delivered, m.failed, m.verify, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch adds the gauges read at each scrape: the password hashes waiting for a
// slot and the messages waiting for delivery.
func (m *metrics) watch(h *twostep.Hasher, backlog func(context.Context) (int, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "twostep_argon2_queue_depth",
		Help: "Password hashes waiting for a slot."}, func() float64 { return float64(h.Queued()) }))
	m.reg.MustRegister(&backlogCollector{count: backlog,
		desc: prometheus.NewDesc("twostep_outbox_backlog", "Messages queued and not yet delivered or given up.", nil, nil),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "twostep_outbox_backlog_read_failures_total",
			Help: "Scrapes that could not count the outbox backlog (the database did not answer)."})})
}

// backlogCollector reports the outbox backlog at each scrape. While the
// database does not answer it reports no backlog at all, rather than a number
// that reads as one (it said -1), and counts the failure.
type backlogCollector struct {
	count    func(context.Context) (int, error)
	desc     *prometheus.Desc
	failures prometheus.Counter
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	c.failures.Describe(ch)
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := c.count(ctx); err != nil {
		c.failures.Inc()
	} else {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
	}
	c.failures.Collect(ch)
}

// database reports what the store sends to PostgreSQL and the pool of
// connections it holds, read at each scrape (the pool only on PostgreSQL).
func (m *metrics) database(db *store.DB) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "twostep_db_round_trips_total",
		Help: "Statements and pipelines sent to PostgreSQL and waited for (0 on SQLite)."}, func() float64 { return float64(db.RoundTrips()) }))
	if _, ok := db.PoolStats(); !ok {
		return
	}
	stat := func() store.PoolStats { s, _ := db.PoolStats(); return s }
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "twostep_db_connections_max",
			Help: "The most connections this instance opens to PostgreSQL (pool_max_conns)."}, func() float64 { return float64(stat().Max) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "twostep_db_connections_acquired",
			Help: "Connections to PostgreSQL in use now."}, func() float64 { return float64(stat().Acquired) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "twostep_db_connections_open",
			Help: "Connections to PostgreSQL open now, in use or idle."}, func() float64 { return float64(stat().Total) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "twostep_db_pool_waits_total",
			Help: "Requests for a connection that found none idle and waited."}, func() float64 { return float64(stat().Waits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "twostep_db_pool_wait_seconds_total",
			Help: "Time spent waiting for a connection of the pool."}, func() float64 { return stat().WaitTime.Seconds() }))
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// timed observes the server time of every request h serves under its route.
func (m *metrics) timed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		m.requests.WithLabelValues(route(r)).Observe(time.Since(start).Seconds())
	})
}

// hotRoutes are the paths timed under their own label: what `twostep bench
// run` drives. A fixed list keeps the label's values few, whatever clients ask.
var hotRoutes = map[string]bool{
	"/api/v1/sign-in": true, "/api/v1/sign-in/verify": true, "/api/v1/authz/forward-auth": true,
	"/api/v1/authz/auth-request": true, "/sign-in": true, "/sign-in/verify": true, "/oauth2/authorize": true,
	"/oauth2/token": true, "/oauth2/authorize/callback": true,
}

// route is the label of r's path: itself for a hot route, the Verify API's
// operation for its paths, "other" for anything else.
func route(r *http.Request) string {
	p := r.URL.Path
	if hotRoutes[p] {
		return p
	}
	if strings.HasPrefix(p, "/verify/v2/") || strings.HasPrefix(p, "/v2/") {
		switch {
		case strings.HasSuffix(p, "/Verifications"):
			return "/verify/v2/Verifications"
		case strings.HasSuffix(p, "/VerificationCheck"):
			return "/verify/v2/VerificationCheck"
		}
	}
	return "other"
}

func (m *metrics) SignIn(outcome string) { m.signIns.WithLabelValues(outcome).Inc() }
func (m *metrics) SecondStep(method, outcome string) {
	m.secondSteps.WithLabelValues(method, outcome).Inc()
}
func (m *metrics) ThrottleTrip(kind string) { m.trips.WithLabelValues(kind).Inc() }

// VerifyRequest counts a Verify API request (twostep.VerifyMetrics).
func (m *metrics) VerifyRequest(operation, channel, outcome string) {
	m.verify.WithLabelValues(operation, channel, outcome).Inc()
}

func (m *metrics) Delivered(channel string, latency time.Duration) {
	m.delivered.WithLabelValues(channel).Observe(latency.Seconds())
}

func (m *metrics) DeliveryFailed(channel string, final bool) {
	f := "false"
	if final {
		f = "true"
	}
	m.failed.WithLabelValues(channel, f).Inc()
}
