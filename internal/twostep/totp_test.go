package twostep

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// needTool returns the path of an independent checker, skipping without it
// (failing in CI, which installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name,
			map[string]string{"oathtool": "oathtool", "zbarimg": "zbar-tools", "python3": "python3"}[name])
	}
	return p
}

// TestHOTPVectors: RFC 4226 Appendix D through our code path (OTP-01). TOTP at
// step n is HOTP at count n.
func TestHOTPVectors(t *testing.T) { // OTP-01
	secret := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for count, w := range want {
		if got := TOTPCode(secret, int64(count)); got != w {
			t.Errorf("count %d: got %s, want %s", count, got, w)
		}
	}
}

// TestTOTPVectors: RFC 6238 Appendix B with per-hash seed lengths (OTP-02), the
// 6-digit form keeping leading zeros (OTP-03), and 64-bit time (OTP-04).
func TestTOTPVectors(t *testing.T) { // OTP-02, OTP-03, OTP-04
	seeds := map[otp.Algorithm][]byte{
		otp.AlgorithmSHA1:   []byte("12345678901234567890"),
		otp.AlgorithmSHA256: []byte("12345678901234567890123456789012"),
		otp.AlgorithmSHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	tests := []struct {
		t          int64
		sha1, s256 string
		s512       string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tc := range tests {
		step := tc.t / 30
		for alg, want := range map[otp.Algorithm]string{otp.AlgorithmSHA1: tc.sha1, otp.AlgorithmSHA256: tc.s256, otp.AlgorithmSHA512: tc.s512} {
			if got := totpCode(seeds[alg], step, otp.DigitsEight, alg); got != want {
				t.Errorf("t=%d %s: got %s, want %s", tc.t, alg, got, want)
			}
		}
		if got, want := TOTPCode(seeds[otp.AlgorithmSHA1], step), tc.sha1[2:]; got != want {
			t.Errorf("t=%d 6 digits: got %s, want %s", tc.t, got, want)
		}
	}
}

// TestTOTPMatchesOathtool checks our codes against an independent implementation.
func TestTOTPMatchesOathtool(t *testing.T) {
	oathtool := needTool(t, "oathtool")
	secret := []byte("any twenty bytes!!!!")
	for _, at := range []int64{0, 1700000000, 1893456000} {
		out, err := exec.Command(oathtool, "--totp", "-b", b32.EncodeToString(secret),
			"--now", time.Unix(at, 0).UTC().Format("2006-01-02 15:04:05 UTC")).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := TOTPCode(secret, at/30), strings.TrimSpace(string(out)); got != want {
			t.Errorf("at %d: ours %s, oathtool %s", at, got, want)
		}
	}
}

// TestTOTPSkew: ±1 step accepted, ±2 refused (OTP-07), against server time (OTP-11).
func TestTOTPSkew(t *testing.T) { // OTP-07, OTP-11
	secret := []byte("12345678901234567890")
	now := time.Unix(1700000015, 0) // 15 s into a step
	tests := []struct {
		offset time.Duration
		ok     bool
	}{
		{0, true}, {31 * time.Second, true}, {-31 * time.Second, true},
		{61 * time.Second, false}, {-61 * time.Second, false}, {10 * time.Minute, false},
	}
	for _, tc := range tests {
		code := TOTPCode(secret, TOTPStep(now.Add(tc.offset)))
		step, ok := matchTOTP(secret, code, now)
		if ok != tc.ok {
			t.Errorf("code from %v away: matched %v, want %v", tc.offset, ok, tc.ok)
		}
		if ok && step != TOTPStep(now.Add(tc.offset)) {
			t.Errorf("code from %v away: matched step %d, want %d", tc.offset, step, TOTPStep(now.Add(tc.offset)))
		}
	}
}

// TestOTPAuthURI: the key URI format (OTP-13) and a QR code that an independent
// reader decodes to exactly that URI.
func TestOTPAuthURI(t *testing.T) { // OTP-06, OTP-13
	secret := []byte("12345678901234567890")
	uri := OTPAuthURI("Cloud Legal", "jo:e@example.com", secret)
	want := "otpauth://totp/Cloud%20Legal:joe@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Cloud%20Legal&algorithm=SHA1&digits=6&period=30"
	if uri != want {
		t.Errorf("got  %s\nwant %s", uri, want)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(u.Opaque+u.Path, ":") != 1 {
		t.Errorf("label %q must hold exactly one colon, between issuer and account", u.Path)
	}
	if strings.Contains(u.Query().Get("secret"), "=") {
		t.Error("secret must be Base32 without padding")
	}

	zbarimg := needTool(t, "zbarimg")
	png, err := QRPNG(uri, 256)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbarimg, "--raw", "-q", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.TrimSpace(out)); got != uri {
		t.Errorf("QR decodes to %q, want %q", got, uri)
	}
}
