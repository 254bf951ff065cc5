package web_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJSONContentType: a body sent as anything but JSON (curl -d sends a form)
// is 415 invalid_request saying what to send, not "the body is empty"; JSON
// with parameters is JSON (issue 11, item 18).
func TestJSONContentType(t *testing.T) {
	a := newAPI(t, false)
	body := `{"email":"owner@example.com","password":"` + apiPassword + `"}`
	tests := []struct {
		contentType string
		wantStatus  int
		wantCode    string
		wantDetail  string
	}{
		{"application/x-www-form-urlencoded", 415, "invalid_request", "send Content-Type: application/json"},
		{"text/plain", 415, "invalid_request", "send Content-Type: application/json"},
		{"multipart/form-data; boundary=x", 415, "invalid_request", "send Content-Type: application/json"},
		{"application/merge-patch+json", 415, "invalid_request", "send Content-Type: application/json"},
		{"application/json", 200, "", ""},
		{"application/json; charset=utf-8", 200, "", ""},
		{"Application/JSON; charset=UTF-8", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.contentType, func(t *testing.T) {
			st, res, resp := a.call("POST", "/api/v1/sign-in", "", body, "Content-Type", tc.contentType)
			got := struct {
				Status       int
				Code, Detail string
			}{st, str(res["code"]), str(res["detail"])}
			want := struct {
				Status       int
				Code, Detail string
			}{tc.wantStatus, tc.wantCode, tc.wantDetail}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("POST /api/v1/sign-in (-want +got):\n%s", diff)
			}
			if st == 415 && resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("415 as %q, want problem details", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
