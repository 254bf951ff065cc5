package loadgen

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The server's own view of a run, from its /metrics read before and after:
// the time it spent in each route's handlers (twostep_http_request_seconds)
// and the round trips it made to PostgreSQL (twostep_db_round_trips_total).

// serverMetrics are the counters of one scrape; nil when /metrics did not answer.
type serverMetrics struct {
	sum, count map[string]float64 // by route
	trips      float64
}

// scrape reads url's Prometheus text; nil when it cannot.
func scrape(ctx context.Context, client *http.Client, url string) *serverMetrics {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	m := &serverMetrics{sum: map[string]float64{}, count: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "twostep_db_round_trips_total":
			m.trips = v
		case strings.HasPrefix(name, "twostep_http_request_seconds_sum{route=\""):
			m.sum[strings.TrimSuffix(strings.TrimPrefix(name, "twostep_http_request_seconds_sum{route=\""), "\"}")] = v
		case strings.HasPrefix(name, "twostep_http_request_seconds_count{route=\""):
			m.count[strings.TrimSuffix(strings.TrimPrefix(name, "twostep_http_request_seconds_count{route=\""), "\"}")] = v
		}
	}
	return m
}

// serverTimes is what the server did during a run.
type serverTimes struct {
	routes []routeTime
	trips  float64
}

type routeTime struct {
	route string
	n     float64
	mean  time.Duration
}

// since is what happened between b and m; nil if either is missing.
func (m *serverMetrics) since(b *serverMetrics) *serverTimes {
	if m == nil || b == nil {
		return nil
	}
	st := &serverTimes{trips: m.trips - b.trips}
	for r, c := range m.count {
		n := c - b.count[r]
		if n <= 0 || r == "other" {
			continue
		}
		st.routes = append(st.routes, routeTime{route: r, n: n,
			mean: time.Duration((m.sum[r] - b.sum[r]) / n * float64(time.Second))})
	}
	return st
}
