package web_test

import (
	"encoding/base32"
	"testing"
	"time"
)

// TestAPICodesWithSpacesAndDashes: the API takes a code as people copy it,
// "123 456" or "123-456", wherever it takes a code.
func TestAPICodesWithSpacesAndDashes(t *testing.T) {
	a := newAPI(t, false)
	st, b, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	session := b["session_token"].(string)
	st, b, _ = a.call("POST", "/api/v1/account/factors", session, map[string]string{"method": "totp"})
	a.want(st, 201, b, "add factor")
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b["secret"].(string))
	c := a.code(secret)
	st, b, _ = a.call("POST", "/api/v1/account/factors/"+b["id"].(string)+"/verify", session, map[string]string{"code": c[:3] + " " + c[3:]})
	a.want(st, 200, b, "verify factor with a space")

	a.clock.Advance(30 * time.Second)
	st, b, _ = a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	a.want(st, 200, b, "sign-in")
	c = a.code(secret)
	st, b, _ = a.call("POST", "/api/v1/sign-in/verify", "", map[string]string{"sign_in_token": b["sign_in_token"].(string),
		"method": "totp", "code": c[:3] + "-" + c[3:]})
	a.want(st, 200, b, "second step with a dash")
	session = b["session_token"].(string)

	a.clock.Advance(11 * time.Minute)
	c = a.code(secret)
	st, b, _ = a.call("POST", "/api/v1/account/confirm-identity", session, map[string]string{"password": apiPassword,
		"method": "totp", "code": " " + c[:3] + " " + c[3:] + " "})
	a.want(st, 200, b, "confirm identity with spaces")
}
