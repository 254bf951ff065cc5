package web_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
	"github.com/twostep/twostep/internal/web"
)

// TestMetricsLoopbackOnly: on the main address /metrics answers loopback
// clients only, judged by the peer address; a request that came through a
// proxy is not a loopback client, whatever the proxy's own address, and
// X-Forwarded-For never makes one (API.md §3.4; issue 11, item 16).
func TestMetricsLoopbackOnly(t *testing.T) {
	db := storetest.SQLite(t)
	sealer := twosteptest.NewSealer(t)
	svc, err := twostep.New(twostep.Options{Store: db, Sealer: sealer, Rand: rand.Reader, BaseURL: "http://twostep.test",
		Methods: []twostep.Method{twostep.MethodTOTP}, Hasher: twostep.NewHasher(twosteptest.CheapArgon2, 1, 10, time.Second, rand.Reader)})
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("twostep_up 1\n")) })
	base, _ := url.Parse("http://twostep.test")
	h, err := web.New(web.Options{Service: svc, BaseURL: base, Metrics: metrics,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		header map[string]string
		want   int
	}{
		{"loopback IPv4", "127.0.0.1:40000", nil, 200},
		{"loopback IPv6", "[::1]:40000", nil, 200},
		{"loopback as IPv4-mapped IPv6", "[::ffff:127.0.0.1]:40000", nil, 200},
		{"another machine", "192.0.2.7:40000", nil, 403},
		{"another machine claiming loopback", "192.0.2.7:40000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 403},
		{"trusted proxy forwarding loopback", "10.1.2.3:40000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 403},
		{"trusted proxy on loopback", "127.0.0.2:40000", map[string]string{"X-Forwarded-For": "192.0.2.7"}, 403},
		{"trusted proxy on loopback, no header", "127.0.0.2:40000", nil, 403},
		{"untrusted proxy on loopback", "127.0.0.1:40000", map[string]string{"X-Forwarded-For": "192.0.2.7"}, 403},
		{"untrusted proxy on loopback, Forwarded", "127.0.0.1:40000", map[string]string{"Forwarded": "for=192.0.2.7"}, 403},
		{"untrusted proxy on loopback, X-Real-IP", "127.0.0.1:40000", map[string]string{"X-Real-IP": "192.0.2.7"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/metrics", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if diff := cmp.Diff(tc.want, w.Code); diff != "" {
				t.Errorf("status (-want +got):\n%s\nbody %s", diff, w.Body)
			}
			if w.Code != 200 && w.Body.String() == "twostep_up 1\n" {
				t.Error("a refused request got the metrics")
			}
		})
	}
}

// TestMetricsOnly: the second listener (TWOSTEP_METRICS_LISTEN) serves the
// metrics to whoever reaches it, and nothing else.
func TestMetricsOnly(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("twostep_up 1\n")) })
	h := web.MetricsOnly(metrics)
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/metrics", 200}, {"GET", "/", 404}, {"GET", "/api/v1/dev/outbox", 404}, {"POST", "/metrics", 405}} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.RemoteAddr = "192.0.2.7:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.want)
		}
	}
}
