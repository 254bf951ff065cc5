package twostep_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// lastPhoneCode returns the newest queued message on channel with template tmpl.
func (f *fixture) lastMessage(channel, tmpl string) twostep.Message {
	f.t.Helper()
	f.outbox()
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Channel == channel && f.sent[i].Template == tmpl {
			return f.sent[i]
		}
	}
	f.t.Fatalf("no %s %s message among %v", channel, tmpl, f.templates())
	return twostep.Message{}
}

func TestPhoneJourney(t *testing.T) { // OOB-09
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: "06 12 34 56 78", Country: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	if nf.Factor.Address != "+33612345678" || !cmp.Equal(nf.Factor.Channels, []twostep.Method{twostep.MethodSMS, twostep.MethodVoice}) {
		t.Errorf("phone factor %+v", nf.Factor)
	}
	m := f.lastMessage("sms", "code_enrol")
	if m.To != "+33612345678" || m.Data["host"] != "auth.example.com" || len(m.Data["code"]) != 6 {
		t.Fatalf("enrolment SMS %+v", m)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, m.Data["code"]); err != nil {
		t.Fatal(err)
	}

	res := f.signIn("joe@example.com")
	want := []twostep.MethodOption{
		{Method: twostep.MethodSMS, FactorID: nf.Factor.ID, To: "+33 6 •• •• •• 78"},
		{Method: twostep.MethodVoice, FactorID: nf.Factor.ID, To: "+33 6 •• •• •• 78"},
		{Method: twostep.MethodRecoveryCode},
	}
	if diff := cmp.Diff(want, res.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if res.CodeSent == nil || res.CodeSent.Method != twostep.MethodSMS {
		t.Fatalf("code_sent %+v, want an SMS", res.CodeSent)
	}
	smsCode := f.lastMessage("sms", "code_sign_in").Data["code"]
	// "Call me instead" right away: the cooldown is per channel.
	cs, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodVoice})
	if err != nil || cs.Method != twostep.MethodVoice {
		t.Fatalf("call instead: %+v %v", cs, err)
	}
	if _, err := f.svc.SendSignInCode(ctx, twostep.SendRequest{SignInToken: res.SignInToken, Method: twostep.MethodVoice}); !errors.Is(err, twostep.ErrResendTooSoon) {
		t.Errorf("second call at once: %v, want ErrResendTooSoon", err)
	}
	call := f.lastMessage("voice", "code_sign_in")
	if call.To != "+33612345678" {
		t.Errorf("call to %s", call.To)
	}
	if smsCode != call.Data["code"] {
		if _, err := f.verify(res.SignInToken, twostep.MethodSMS, smsCode); !errors.Is(err, twostep.ErrInvalidCode) {
			t.Errorf("the SMS code after a call replaced it: %v, want ErrInvalidCode", err)
		}
	}
	done, err := f.verify(res.SignInToken, twostep.MethodVoice, call.Data["code"])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pwd", "tel"}, done.Session.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
}

func TestPhoneRefusedNumbersSendNothing(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.rebuild(func(o *twostep.Options) { o.SMSCountries = []string{"FR"} })
	f.account("joe@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	for _, r := range []twostep.FactorRequest{
		{Method: twostep.MethodSMS, Phone: "01 23 45 67 89", Country: "FR"},
		{Method: twostep.MethodVoice, Phone: "08 99 12 34 56", Country: "FR"},
		{Method: twostep.MethodSMS, Phone: "+819012345678"},
		{Method: twostep.MethodSMS, Phone: "06 12"},
	} {
		var inv *twostep.InvalidError
		if _, err := f.svc.AddFactor(ctx, c, r); !errors.As(err, &inv) {
			t.Errorf("%+v: %v, want an InvalidError", r, err)
		}
	}
	if got := f.outbox(); len(got) != 0 {
		t.Errorf("messages queued for refused numbers: %v", got)
	}
	factors, _ := f.svc.Factors(ctx, c)
	if len(factors) != 0 {
		t.Errorf("factors left behind: %v", factors)
	}
	// A fixed line takes calls only.
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodVoice, Phone: "01 23 45 67 89", Country: "FR"})
	if err != nil || !cmp.Equal(nf.Factor.Channels, []twostep.Method{twostep.MethodVoice}) {
		t.Errorf("fixed line by call: %+v %v", nf, err)
	}
}

// TestPhoneCaps: each toll-fraud guard trips at its number, answers with a retry
// time, leaves an audit event and sends nothing; a new window lets sends again
// (OOB-10).
func TestPhoneCaps(t *testing.T) { // OOB-10
	big := twostep.Cap{Max: 1000, Window: time.Hour}
	tests := []struct {
		name   string
		limits twostep.PhoneLimits
		phone  func(i int) string
		ip     func(i int) string
		window time.Duration
		free   int
		// one account makes every send (the per-number cap is an account's
		// own: OOB-10); otherwise each send has an account of its own.
		oneAccount bool
	}{
		{"number", twostep.PhoneLimits{PerNumber: twostep.Cap{Max: 3, Window: time.Hour}, PerIP: big, PerCountry: big, Daily: 1000},
			func(int) string { return "+33612345678" }, func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }, time.Hour, 3, true},
		{"ip", twostep.PhoneLimits{PerNumber: big, PerIP: twostep.Cap{Max: 4, Window: time.Hour}, PerCountry: big, Daily: 1000},
			func(i int) string { return fmt.Sprintf("+3361234560%d", i) }, func(int) string { return "192.0.2.1" }, time.Hour, 4, false},
		{"country", twostep.PhoneLimits{PerNumber: big, PerIP: big, PerCountry: twostep.Cap{Max: 3, Window: 24 * time.Hour}, Daily: 1000},
			func(i int) string { return fmt.Sprintf("+3361234560%d", i) }, func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }, 24 * time.Hour, 3, false},
		{"global", twostep.PhoneLimits{PerNumber: big, PerIP: big, PerCountry: big, Daily: 2},
			func(i int) string { return fmt.Sprintf("+3361234560%d", i) }, func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }, 24 * time.Hour, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
			f.rebuild(func(o *twostep.Options) { o.PhoneLimits = tc.limits })
			ctx := context.Background()
			add := func(i int) error {
				email := fmt.Sprintf("user%d@example.com", i)
				if tc.oneAccount {
					email = "user@example.com"
				}
				if i == 0 || !tc.oneAccount {
					f.account(email)
				}
				res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: password, IP: tc.ip(i)})
				if err != nil {
					t.Fatal(err)
				}
				c, err := f.svc.Authenticate(ctx, res.SessionToken, tc.ip(i), "")
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: tc.phone(i)})
				return err
			}
			for i := 0; i < tc.free; i++ {
				if err := add(i); err != nil {
					t.Fatalf("send %d of %d allowed: %v", i+1, tc.free, err)
				}
			}
			sent := len(f.outbox())
			err := add(tc.free)
			if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) <= 0 || twostep.RetryAfter(err) > tc.window {
				t.Fatalf("send past the cap: %v (retry after %v)", err, twostep.RetryAfter(err))
			}
			if got := len(f.outbox()); got != 0 || sent != tc.free {
				t.Errorf("queued %d then %d messages, want %d then 0", sent, got, tc.free)
			}
			evs, _ := f.db.Events(ctx, twostep.EventFilter{Type: "delivery.capped"})
			if len(evs) != 1 || evs[0].Detail["cap"] != tc.name {
				t.Errorf("audit events %+v, want one delivery.capped for %s", evs, tc.name)
			}
			f.clock.Advance(tc.window)
			if err := add(tc.free + 1); err != nil {
				t.Errorf("after the window: %v", err)
			}
		})
	}
}

// TestSignInPastPhoneCap: a sign-in never fails on a cap; it comes without code_sent.
func TestSignInPastPhoneCap(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	c := f.caller(f.signIn("joe@example.com").SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: "+33612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.lastMessage("sms", "code_enrol").Data["code"]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // the 5 sign-in codes an hour a proven number takes (enrolment codes apart)
		if res := f.signIn("joe@example.com"); res.CodeSent == nil {
			t.Fatalf("sign-in %d sent nothing", i+1)
		}
	}
	res := f.signIn("joe@example.com")
	if res.Status != twostep.StatusSecondStep || res.CodeSent != nil {
		t.Errorf("sign-in past the cap: %+v, want second_step without code_sent", res)
	}
	// And never a silent fall-back to the other paid channel.
	f.outbox()
	for _, m := range f.sent[len(f.sent)-5:] {
		if m.Channel != "sms" {
			t.Errorf("message by %s", m.Channel)
		}
	}
}

// TestParallelCodesAndLinks: the same SMS code, and the same invitation link,
// submitted 20 times at once give one success, on both backends (OOB-03).
func TestParallelCodesAndLinks(t *testing.T) { // OOB-03
	storetestBackends(t, func(t *testing.T, f *fixture) {
		f.account("owner@example.com")
		ctx := context.Background()
		c := f.caller(f.signIn("owner@example.com").SessionToken)
		nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: "+33612345678"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.lastMessage("sms", "code_enrol").Data["code"]); err != nil {
			t.Fatal(err)
		}
		res := f.signIn("owner@example.com")
		code := f.lastMessage("sms", "code_sign_in").Data["code"]
		ok, errs := f.race(20, func(int) error { _, err := f.verify(res.SignInToken, twostep.MethodSMS, code); return err })
		if ok != 1 {
			t.Errorf("SMS code: %d successes, want 1 (%v)", ok, errs)
		}
		owner := f.caller(mustSignInWithSMS(t, f))
		if _, err := f.svc.Invite(ctx, owner, "new@example.com", twostep.RoleMember, false); err != nil {
			t.Fatal(err)
		}
		link := f.lastMessage("email", "invitation").Data["link"]
		token := link[strings.LastIndex(link, "/")+1:]
		ok, errs = f.race(20, func(int) error { return f.svc.SetPassword(ctx, token, password, nil) })
		if ok != 1 {
			t.Errorf("invitation link: %d successes, want 1 (%v)", ok, errs)
		}
	})
}

func mustSignInWithSMS(t *testing.T, f *fixture) string {
	t.Helper()
	f.clock.Advance(time.Minute)
	res := f.signIn("owner@example.com")
	done, err := f.verify(res.SignInToken, twostep.MethodSMS, f.lastMessage("sms", "code_sign_in").Data["code"])
	if err != nil {
		t.Fatal(err)
	}
	return done.SessionToken
}

// TestOtherAccountCannotSilenceSMS: another account that adds the victim's
// proven number as a pending phone of its own, again and again until its sends
// are capped, never stops the victim's sign-in codes (OOB-10). The review
// silenced a victim for an hour this way, repeatably: the per-number cap was
// one for all accounts.
func TestOtherAccountCannotSilenceSMS(t *testing.T) { // OOB-10
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	const victimNumber = "+33612345678"
	f.account("joe@example.com")
	joe := f.caller(f.signIn("joe@example.com").SessionToken)
	nf, err := f.svc.AddFactor(ctx, joe, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: victimNumber})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.VerifyFactor(ctx, joe, nf.Factor.ID, f.lastMessage("sms", "code_enrol").Data["code"]); err != nil {
		t.Fatal(err)
	}
	f.account("eve@example.com")
	eve := f.caller(f.signIn("eve@example.com").SessionToken)
	capped := false
	for i := 0; i < 20 && !capped; i++ {
		_, err := f.svc.AddFactor(ctx, eve, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: victimNumber})
		switch {
		case errors.Is(err, twostep.ErrThrottled):
			capped = true
		case err != nil:
			t.Fatal(err)
		}
		f.clock.Advance(twostep.ResendCooldown)
	}
	if !capped {
		t.Fatal("the other account's sends were never capped")
	}
	for i := 0; i < 3; i++ {
		res := f.signIn("joe@example.com")
		if res.CodeSent == nil || res.CodeSent.Method != twostep.MethodSMS {
			t.Fatalf("victim's sign-in %d: code_sent %+v, want an SMS", i+1, res.CodeSent)
		}
		if m := f.lastMessage("sms", "code_sign_in"); m.To != victimNumber {
			t.Errorf("sign-in code to %s", m.To)
		}
	}
}

// TestPhoneAdditionsCap: an account starts to add at most PhoneAdditions.Max
// phone numbers a day; the next is refused with a retry time, audited, and
// sends nothing (OOB-10).
func TestPhoneAdditionsCap(t *testing.T) { // OOB-10
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	f.account("eve@example.com")
	eve := f.caller(f.signIn("eve@example.com").SessionToken)
	add := func(i int) error {
		_, err := f.svc.AddFactor(ctx, eve, twostep.FactorRequest{Method: twostep.MethodSMS, Phone: fmt.Sprintf("+3361234560%d", i)})
		return err
	}
	for i := 0; i < twostep.PhoneAdditions.Max; i++ {
		if err := add(i); err != nil {
			t.Fatalf("addition %d: %v", i+1, err)
		}
	}
	f.outbox()
	err := add(9)
	if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) <= 0 || twostep.RetryAfter(err) > 24*time.Hour {
		t.Fatalf("addition past the cap: %v (retry after %v)", err, twostep.RetryAfter(err))
	}
	if got := f.outbox(); len(got) != 0 {
		t.Errorf("queued past the cap: %v", got)
	}
	evs, _ := f.db.Events(ctx, twostep.EventFilter{Type: "delivery.capped"})
	if len(evs) != 1 || evs[0].Detail["cap"] != "phone_additions" {
		t.Errorf("audit events %+v, want one delivery.capped for phone_additions", evs)
	}
	// Adding an authenticator app is not a phone addition.
	if _, err := f.svc.AddFactor(ctx, eve, twostep.FactorRequest{Method: twostep.MethodTOTP}); err != nil {
		t.Errorf("authenticator app past the phone cap: %v", err)
	}
	f.clock.Advance(twostep.PhoneAdditions.Window)
	eve = f.caller(f.signIn("eve@example.com").SessionToken) // a fresh confirmation
	if err := add(9); err != nil {
		t.Errorf("after a day: %v", err)
	}
}
