package twostep

import (
	"encoding/json"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// otpauthIssuers are issuer names that broke the key URI: spaces, which
// url.QueryEscape wrote as "+", and "+", "&", "=", "#", "/", "%" and accents.
var otpauthIssuers = []string{"Cloud Legal", "Café Légal+Co & Fils", "A=B#C/D?E", "100% Légal", "Zoë_~-.", "東京 法律"}

// TestOTPAuthURIEncoding: label and issuer parameter are percent-encoded as
// RFC 3986 asks (OTP-13), so that the issuer reads the same in the label and
// in the parameter whether the query is read as a form or only percent-decoded.
func TestOTPAuthURIEncoding(t *testing.T) { // OTP-13
	secret := []byte("12345678901234567890")
	exact := map[string]string{
		"Cloud Legal":          "otpauth://totp/Cloud%20Legal:joe@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Cloud%20Legal&algorithm=SHA1&digits=6&period=30",
		"Café Légal+Co & Fils": "otpauth://totp/Caf%C3%A9%20L%C3%A9gal%2BCo%20%26%20Fils:joe@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Caf%C3%A9%20L%C3%A9gal%2BCo%20%26%20Fils&algorithm=SHA1&digits=6&period=30",
	}
	for _, issuer := range otpauthIssuers {
		uri := OTPAuthURI(issuer, "joe@example.com", secret)
		if want, ok := exact[issuer]; ok && uri != want {
			t.Errorf("%q:\ngot  %s\nwant %s", issuer, uri, want)
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("%q: %v", issuer, err)
		}
		label, err := url.PathUnescape(u.EscapedPath()[1:])
		if err != nil {
			t.Fatalf("%q: label: %v", issuer, err)
		}
		inLabel, account, _ := strings.Cut(label, ":")
		var rfc3986 string
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if v, ok := strings.CutPrefix(kv, "issuer="); ok {
				rfc3986, err = url.PathUnescape(v)
			}
		}
		got := []string{inLabel, account, u.Query().Get("issuer"), rfc3986}
		if diff := cmp.Diff([]string{issuer, "joe@example.com", issuer, issuer}, got); diff != "" || err != nil {
			t.Errorf("%q: label issuer, account, issuer as a form, issuer percent-decoded (-want +got):\n%s%v", issuer, diff, err)
		}
	}
}

// otpauthReader reads key URIs with Python's standard library, independently
// of Go's net/url: the label and each parameter percent-decoded (RFC 3986, as
// Google's Key URI format says), and the parameters again as an HTML form
// (parse_qsl, as pyotp's parse_uri reads them). A reader that finds the issuer
// of the label and of the parameter differ refuses the URI, as pyotp does.
const otpauthReader = `
import json, sys
from urllib.parse import urlsplit, unquote, parse_qsl
out = []
for uri in json.load(sys.stdin):
    u = urlsplit(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp", uri
    label = unquote(u.path[1:], errors="strict")
    issuer, account = label.split(":", 1)
    params = {}
    for pair in u.query.split("&"):
        k, v = pair.split("=", 1)
        params[unquote(k, errors="strict")] = unquote(v, errors="strict")
    form = dict(parse_qsl(u.query, strict_parsing=True, errors="strict"))
    if params["issuer"] != issuer or form["issuer"] != issuer:
        print("issuer differs: label %r, parameter %r, as a form %r" % (issuer, params["issuer"], form["issuer"]), file=sys.stderr)
        sys.exit(1)
    out.append({"issuer": issuer, "account": account, "secret": params["secret"]})
json.dump(out, sys.stdout)
`

// TestOTPAuthURIIndependentReader: Python's urllib reads back every issuer
// and account exactly, and the same issuer in label and parameter (OTP-13).
// With url.QueryEscape, "Cloud Legal" came back as "Cloud+Legal".
func TestOTPAuthURIIndependentReader(t *testing.T) { // OTP-13
	python := needTool(t, "python3")
	type key struct{ Issuer, Account, Secret string }
	var uris []string
	var want []key
	for _, issuer := range otpauthIssuers {
		for _, account := range []string{"joe@example.com", "zoë+tag@exämple.fr", "a b&c=d"} {
			uris = append(uris, OTPAuthURI(issuer, account, []byte("12345678901234567890")))
			want = append(want, key{issuer, account, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"})
		}
	}
	in, err := json.Marshal(uris)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", otpauthReader)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v: %s", err, stderr.String())
	}
	var got []key
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back by Python (-want +got):\n%s", diff)
	}
}
