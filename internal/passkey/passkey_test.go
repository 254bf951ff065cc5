package passkey_test

import (
	"errors"
	"testing"

	"github.com/twostep/twostep/internal/passkey"
	"github.com/twostep/twostep/internal/passkey/softkey"
	"github.com/twostep/twostep/internal/twostep"
)

const origin = "http://localhost:8080"

func newRP(t *testing.T) *passkey.RP {
	t.Helper()
	rp, err := passkey.New(passkey.Options{BaseURL: origin, DisplayName: "Twostep"})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// register makes a key for u with rp and returns it with its credential.
func register(t *testing.T, rp *passkey.RP, u *twostep.PasskeyUser) (*softkey.Key, *twostep.Credential) {
	t.Helper()
	opts, session, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	k, resp, err := softkey.Create(opts, origin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := rp.FinishRegistration(u, session, resp)
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	return k, cred
}

func TestNewRefusesAnIPAddress(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8080", "https://[::1]", "http://10.0.0.1"} {
		if _, err := passkey.New(passkey.Options{BaseURL: base}); err == nil {
			t.Errorf("%s: a relying party on an IP address was made", base)
		}
	}
	if _, err := passkey.New(passkey.Options{BaseURL: "http://localhost:8080"}); err != nil {
		t.Errorf("localhost counts as a name: %v", err)
	}
}

// TestAssertionChecks: a good assertion passes and each wrong field of one is
// refused by the library's checks (WA-02), as ErrCredentialRefused.
func TestAssertionChecks(t *testing.T) { // WA-02
	rp := newRP(t)
	u := &twostep.PasskeyUser{Handle: []byte("acc_1"), Name: "ann@example.com", DisplayName: "ann@example.com"}
	k, cred := register(t, rp, u)
	u.Credentials = []*twostep.Credential{cred}
	other, _ := register(t, rp, &twostep.PasskeyUser{Handle: []byte("acc_2"), Name: "bob@example.com", DisplayName: "bob"})
	count := uint32(0)
	tests := []struct {
		name   string
		key    *softkey.Key
		tamper softkey.Tamper
		origin string
		ok     bool
	}{
		{name: "good", key: k, tamper: softkey.Tamper{UV: true}, ok: true},
		{name: "wrong origin", key: k, origin: "http://evil.example:8080"},
		{name: "wrong rpIdHash", key: k, tamper: softkey.Tamper{RPID: "evil.example"}},
		{name: "wrong type", key: k, tamper: softkey.Tamper{Type: "webauthn.create"}},
		{name: "wrong challenge", key: k, tamper: softkey.Tamper{Challenge: []byte("0123456789abcdef0123456789abcdef")}},
		{name: "bad signature", key: k, tamper: softkey.Tamper{BadSignature: true}},
		{name: "UP missing", key: k, tamper: softkey.Tamper{NoUP: true}},
		{name: "unknown credential", key: other},
		{name: "sign count sent as given", key: k, tamper: softkey.Tamper{SignCount: &count}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, session, err := rp.BeginLogin(u)
			if err != nil {
				t.Fatal(err)
			}
			o := origin
			if tc.origin != "" {
				o = tc.origin
			}
			resp, err := tc.key.Get(opts, o, tc.tamper)
			if err != nil {
				t.Fatal(err)
			}
			a, err := rp.FinishLogin(u, session, resp)
			if tc.ok != (err == nil) {
				t.Fatalf("accepted = %v, want %v (err %v)", err == nil, tc.ok, err)
			}
			if err != nil && !errors.Is(err, twostep.ErrCredentialRefused) {
				t.Errorf("error %v is not ErrCredentialRefused", err)
			}
			if err == nil && a.UserVerified != tc.tamper.UV {
				t.Errorf("UserVerified = %v, want %v", a.UserVerified, tc.tamper.UV)
			}
		})
	}
}

// TestSignCountRegression: a counter not above the stored one is reported
// (WA-04); the adapter does not decide, the domain does.
func TestSignCountRegression(t *testing.T) { // WA-04
	rp := newRP(t)
	u := &twostep.PasskeyUser{Handle: []byte("acc_1"), Name: "ann@example.com", DisplayName: "ann"}
	k, cred := register(t, rp, u)
	k.SignCount = 10
	cred.SignCount = 10
	u.Credentials = []*twostep.Credential{cred}
	for _, tc := range []struct {
		send uint32
		back bool
	}{{11, false}, {10, true}, {3, true}} {
		opts, session, err := rp.BeginLogin(u)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := k.Get(opts, origin, softkey.Tamper{SignCount: &tc.send})
		if err != nil {
			t.Fatal(err)
		}
		a, err := rp.FinishLogin(u, session, resp)
		if err != nil {
			t.Fatalf("count %d: %v", tc.send, err)
		}
		if a.SignCountRegressed != tc.back {
			t.Errorf("count %d after 10: regressed = %v, want %v", tc.send, a.SignCountRegressed, tc.back)
		}
	}
}

// TestDiscoverable: a passwordless assertion names its user by handle.
func TestDiscoverable(t *testing.T) {
	rp := newRP(t)
	u := &twostep.PasskeyUser{Handle: []byte("acc_1"), Name: "ann@example.com", DisplayName: "ann"}
	k, cred := register(t, rp, u)
	u.Credentials = []*twostep.Credential{cred}
	opts, session, err := rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.Get(opts, origin, softkey.Tamper{UV: true})
	if err != nil {
		t.Fatal(err)
	}
	var handle []byte
	got, a, err := rp.FinishDiscoverableLogin(session, resp, func(id, h []byte) (*twostep.PasskeyUser, error) {
		handle = h
		return u, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(handle) != "acc_1" || got != u || !a.UserVerified {
		t.Errorf("handle %q user %v uv %v", handle, got, a.UserVerified)
	}
}
