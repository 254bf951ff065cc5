package verify_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestVerifyThroughput reports checks per second through the real handler on
// SQLite with 8 clients; run with -run TestVerifyThroughput -v.
func TestVerifyThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput")
	}
	f := newFixture(t, options{orgDaily: 100000})
	var sids []string
	for i := range 200 {
		st, body, _ := f.post(f.path("/Verifications"), url.Values{"To": {"user" + strconv.Itoa(i) + "@example.com"}, "Channel": {"email"}})
		f.want(st, 201, body, "start")
		sids = append(sids, body["sid"].(string))
	}
	start := time.Now()
	done := make(chan int)
	for w := range 8 {
		go func() {
			n := 0
			for i := w; i < len(sids); i += 8 {
				for range 5 {
					st, _, _ := f.post(f.path("/VerificationCheck"), url.Values{"VerificationSid": {sids[i]}, "Code": {"000000"}})
					if st == 200 {
						n++
					}
				}
			}
			done <- n
		}()
	}
	total := 0
	for range 8 {
		total += <-done
	}
	el := time.Since(start)
	t.Logf("%d checks in %v: %.0f checks/s", total, el, float64(total)/el.Seconds())
}
