package twostep

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSealBoundToRow(t *testing.T) { // OTP-12
	k1, _ := NewKeyLine("k1", rand.Reader)
	k2, _ := NewKeyLine("k2", rand.Reader)
	keys, err := ParseKeys([]byte(k1 + "\n" + k2 + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("seed"), []byte("fac_a"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, []byte("k1:")) || bytes.Contains(sealed, []byte("seed")) {
		t.Errorf("sealed value %q: want the key id tag and no plaintext", sealed)
	}
	if pt, err := s.Open(sealed, []byte("fac_a")); err != nil || string(pt) != "seed" {
		t.Errorf("open: %q %v", pt, err)
	}
	if _, err := s.Open(sealed, []byte("fac_b")); err == nil {
		t.Error("a value sealed for one row opens for another")
	}
	// After a rotation (k2 active, k1 still held) old values still open, new ones use k2.
	rotated, _ := ParseKeys([]byte(k2 + "\n" + k1 + "\n"))
	if err := s.SetKeys(rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(sealed, []byte("fac_a")); err != nil {
		t.Errorf("old value after rotation: %v", err)
	}
	if again, _ := s.Seal([]byte("seed"), []byte("fac_a")); !bytes.HasPrefix(again, []byte("k2:")) {
		t.Errorf("new value sealed under %q, want k2", again[:3])
	}
}

func TestParseKeysErrors(t *testing.T) {
	good, _ := NewKeyLine("k1", rand.Reader)
	tests := []struct{ file, want string }{
		{"", "no key found"},
		{"# only a comment\n", "no key found"},
		{"k1", "line 1: want KEYID:BASE64"},
		{"k 1:AAAA", "line 1: want KEYID:BASE64"},
		{"k1:AAAA", `line 1: key "k1" is not base64 of 32 bytes`},
		{good + "\n" + good, `line 2: key id "k1" appears twice`},
	}
	for _, tc := range tests {
		if _, err := ParseKeys([]byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestHasher(t *testing.T) { // PW-01, PW-03
	h := NewHasher(DefaultArgon2, 1, 0, time.Second, rand.Reader)
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not record argon2id m=19456 t=2 p=1", hash)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batter": false, strings.Repeat("x", 300): false} {
		if ok, err := h.Verify(ctx, pw, hash); ok != want || err != nil {
			t.Errorf("verify %.20q: %v %v, want %v", pw, ok, err, want)
		}
	}
	if ok, _ := h.Verify(ctx, "", "not a hash"); ok {
		t.Error("a malformed hash matched")
	}
	// With one slot busy and no queue, a second hash is refused with ErrBusy and a retry time.
	h.slots <- struct{}{}
	_, err = h.Hash(ctx, "x")
	if !errors.Is(err, ErrBusy) || RetryAfter(err) <= 0 {
		t.Errorf("hash while busy: %v, want ErrBusy with a retry time", err)
	}
	<-h.slots
}

func TestCheckPassword(t *testing.T) { // PW-02
	tests := []struct {
		pw   string
		want error
	}{
		{"short", &InvalidError{Field: "password", Code: ReasonPasswordShort, Args: map[string]string{"Min": "8"}}},
		{"Password", &InvalidError{Field: "password", Code: ReasonPasswordCommon}},
		{strings.Repeat("é", 8), nil},
		{strings.Repeat("a", 64), nil},
		{strings.Repeat("a", 257), &InvalidError{Field: "password", Code: ReasonPasswordLong, Args: map[string]string{"Max": "256"}}},
		{"no composition rules at all", nil},
	}
	for _, tc := range tests {
		if err := CheckPassword("password", tc.pw); !cmp.Equal(err, tc.want) {
			t.Errorf("%.20q: %v, want %v", tc.pw, err, tc.want)
		}
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Cloud Legal": "cloud-legal", "  Émile & Zoë's Bakery!! ": "emile-zoe-s-bakery", "ACME": "acme", "日本": "",
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskAddress(t *testing.T) {
	if got := MaskAddress(MethodEmail, "joe@example.com"); got != "j•••@example.com" {
		t.Errorf("e-mail masked as %q", got)
	}
}
