package web

import (
	"io/fs"
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

// callerPage is a page handler for a caller its wrapper authenticated:
// withPageCaller (a session) or withEnrolPage (a sign-in that must enrol).
type callerPage = func(http.ResponseWriter, *http.Request, *twostep.Caller)

// routes is every URL Twostep answers: the JSON API (API.md §3), the pages
// (API.md §6) and operations (§3.4).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Signing in (§3.1).
	mux.HandleFunc("POST /api/v1/sign-in", s.apiSignIn)
	mux.HandleFunc("POST /api/v1/sign-in/send", s.apiSignInSend)
	mux.HandleFunc("POST /api/v1/sign-in/verify", s.apiSignInVerify)
	mux.HandleFunc("POST /api/v1/sign-in/complete", s.apiSignInComplete)
	mux.HandleFunc("POST /api/v1/sign-in/passkey", s.apiSignInPasskey)
	mux.HandleFunc("POST /api/v1/password-reset", s.apiPasswordReset)
	mux.HandleFunc("POST /api/v1/sign-out", s.withCaller(s.apiSignOut))

	// The account and its methods (§3.2).
	// These also take the sign-in token of enrollment_required, which may only enrol.
	mux.HandleFunc("GET /api/v1/account", s.withEnrolCaller(s.apiAccount))
	mux.HandleFunc("GET /api/v1/account/factors", s.withEnrolCaller(s.apiFactors))
	mux.HandleFunc("POST /api/v1/account/factors", s.withEnrolCaller(s.apiAddFactor))
	mux.HandleFunc("GET /api/v1/account/factors/{id}/qr.png", s.withEnrolCaller(s.apiFactorQR))
	mux.HandleFunc("POST /api/v1/account/factors/{id}/verify", s.withEnrolCaller(s.apiVerifyFactor))
	mux.HandleFunc("POST /api/v1/account/factors/{id}/resend", s.withEnrolCaller(s.apiResendFactor))
	mux.HandleFunc("POST /api/v1/account/factors/{id}/options", s.withEnrolCaller(s.apiFactorOptions))
	mux.HandleFunc("PATCH /api/v1/account/factors/{id}", s.withCaller(s.apiUpdateFactor))
	mux.HandleFunc("DELETE /api/v1/account/factors/{id}", s.withEnrolCaller(s.apiRemoveFactor))
	mux.HandleFunc("POST /api/v1/account/recovery-codes", s.withCaller(s.apiRecoveryCodes))
	mux.HandleFunc("POST /api/v1/account/confirm-identity", s.withCaller(s.apiConfirmIdentity))
	mux.HandleFunc("POST /api/v1/account/confirm-identity/send", s.withCaller(s.apiConfirmIdentitySend))
	mux.HandleFunc("PUT /api/v1/account/email", s.withCaller(s.apiChangeEmail))
	mux.HandleFunc("POST /api/v1/account/email/verify", s.withCaller(s.apiVerifyEmail))
	mux.HandleFunc("PUT /api/v1/account/password", s.withCaller(s.apiChangePassword))
	mux.HandleFunc("PATCH /api/v1/account/settings", s.withCaller(s.apiSettings))
	mux.HandleFunc("POST /api/v1/account/sessions/end-others", s.withCaller(s.apiEndOthers))
	mux.HandleFunc("GET /api/v1/account/sessions", s.withCaller(s.apiSessions))
	mux.HandleFunc("DELETE /api/v1/account/sessions/{id}", s.withCaller(s.apiEndSession))
	mux.HandleFunc("GET /api/v1/account/activity", s.withCaller(s.apiActivity))
	mux.HandleFunc("GET /api/v1/account/devices", s.withCaller(s.apiDevices))
	mux.HandleFunc("DELETE /api/v1/account/devices", s.withCaller(s.apiForgetDevices))
	mux.HandleFunc("DELETE /api/v1/account/devices/{id}", s.withCaller(s.apiForgetDevice))
	mux.HandleFunc("GET /api/v1/account/app-passwords", s.withCaller(s.apiAppPasswords))
	mux.HandleFunc("POST /api/v1/account/app-passwords", s.withCaller(s.apiCreateAppPassword))
	mux.HandleFunc("DELETE /api/v1/account/app-passwords/{id}", s.withCaller(s.apiRevokeAppPassword))

	// The organisation (§3.3): owners and admins.
	mux.HandleFunc("GET /api/v1/org", s.withCaller(s.apiOrg))
	mux.HandleFunc("PUT /api/v1/org/policy", s.withCaller(s.apiSetPolicy))
	mux.HandleFunc("GET /api/v1/org/members", s.withCaller(s.apiMembers))
	mux.HandleFunc("POST /api/v1/org/members", s.withCaller(s.apiInvite))
	mux.HandleFunc("PATCH /api/v1/org/members/{id}", s.withCaller(s.apiUpdateMember))
	mux.HandleFunc("POST /api/v1/org/members/{id}/reset-two-step", s.withCaller(s.apiResetMember))
	mux.HandleFunc("POST /api/v1/org/members/{id}/end-sessions", s.withCaller(s.apiEndMemberSessions))
	mux.HandleFunc("POST /api/v1/org/members/{id}/unlock", s.withCaller(s.apiUnlockMember))
	mux.HandleFunc("GET /api/v1/org/audit", s.withCaller(s.apiOrgAudit))
	// The organisation's OpenID Connect clients (§7): owners.
	mux.HandleFunc("GET /api/v1/org/oidc-clients", s.withCaller(s.apiOIDCClients))
	mux.HandleFunc("POST /api/v1/org/oidc-clients", s.withCaller(s.apiCreateOIDCClient))
	mux.HandleFunc("DELETE /api/v1/org/oidc-clients/{id}", s.withCaller(s.apiDeleteOIDCClient))
	// Forward auth (§8): reverse proxies ask about each request of the products behind them.
	mux.HandleFunc("GET /api/v1/authz/auth-request", s.apiAuthRequest)
	mux.HandleFunc("GET /api/v1/authz/forward-auth", s.apiForwardAuth)
	// The organisation's own identity provider (§12): owners set it, admins see it.
	mux.HandleFunc("GET /api/v1/org/sso", s.withCaller(s.apiSSOConnection))
	mux.HandleFunc("PUT /api/v1/org/sso", s.withCaller(s.apiPutSSOConnection))
	mux.HandleFunc("DELETE /api/v1/org/sso", s.withCaller(s.apiDeleteSSOConnection))
	mux.HandleFunc("POST /api/v1/org/sso/test", s.withCaller(s.apiTestSSOConnection))
	mux.HandleFunc("GET /api/v1/org/api-keys", s.withCaller(s.apiAPIKeys))
	mux.HandleFunc("POST /api/v1/org/api-keys", s.withCaller(s.apiCreateAPIKey))
	mux.HandleFunc("DELETE /api/v1/org/api-keys/{id}", s.withCaller(s.apiRevokeAPIKey))
	mux.HandleFunc("/api/", s.apiNotFound)

	// Dev outbox (§5): 404 unless dev mode is on.
	mux.HandleFunc("GET /api/v1/dev/outbox", s.devOnly(s.apiOutbox))
	mux.HandleFunc("GET /dev/outbox", s.devOnly(s.pageOutbox))

	// Providers' reports on messages they took: signed, no session.
	mux.HandleFunc("POST "+TwilioStatusPath, s.twilioStatus)

	// Operations (§3.4).
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.serveMetrics)

	// Pages (§6).
	mux.HandleFunc("GET /{$}", s.pageHome)
	mux.HandleFunc("GET /sign-in", s.pageSignIn)
	mux.HandleFunc("POST /sign-in", s.pageSignInPost)
	mux.HandleFunc("GET /sign-in/verify", s.pageVerify)
	mux.HandleFunc("POST /sign-in/verify", s.pageVerifyPost)
	mux.HandleFunc("POST /sign-in/verify/send", s.pageVerifySend)
	mux.HandleFunc("POST /sign-in/passkey", s.pagePasskeySignIn)
	// Required enrolment: the add-method pages below, and these two.
	mux.HandleFunc("GET /sign-in/enrol", s.withEnrolPage(s.pageEnrol))
	mux.HandleFunc("POST /sign-in/enrol/complete", s.pageEnrolComplete)
	// A sign-in at the organisation's own identity provider (§12): there and back.
	mux.HandleFunc("GET "+twostep.SSOStartPath, s.ssoStart)
	mux.HandleFunc("GET "+twostep.SSOCallbackPath+"{slug}", s.ssoCallback)
	mux.HandleFunc("GET /reset-password", s.pageResetRequest)
	mux.HandleFunc("POST /reset-password", s.pageResetRequestPost)
	mux.HandleFunc("GET /reset-password/{token}", s.pageReset)
	mux.HandleFunc("POST /reset-password/{token}", s.pageResetPost)
	mux.HandleFunc("POST /sign-out", s.pageSignOut)
	mux.HandleFunc("GET /account/security", s.withPageCaller(s.pageSecurity))
	mux.HandleFunc("GET /account/confirm", s.withPageCaller(s.pageConfirm))
	mux.HandleFunc("POST /account/confirm", s.withPageCaller(s.pageConfirmPost))
	mux.HandleFunc("POST /account/confirm/send", s.withPageCaller(s.pageConfirmSend))
	mux.HandleFunc("POST /account/security/factors/{id}/default", s.withPageCaller(s.pageMakeDefault))
	mux.HandleFunc("POST /account/security/factors/{id}/label", s.withPageCaller(s.pageRenameFactor))
	mux.HandleFunc("GET /account/security/recovery-codes", s.withPageCaller(s.pageRecoveryCodesConfirm))
	mux.HandleFunc("POST /account/security/recovery-codes", s.withPageCaller(s.pageRecoveryCodes))
	// Asks before a method goes (the POST is among the add-method routes below).
	mux.HandleFunc("GET /account/security/factors/{id}/remove", s.withPageCaller(s.pageRemoveFactorConfirm))
	mux.HandleFunc("POST /account/security/legacy", s.withPageCaller(s.pageLegacy))
	mux.HandleFunc("POST /account/security/language", s.withPageCaller(s.pageLanguage))
	mux.HandleFunc("POST /account/security/devices/{id}/forget", s.withPageCaller(s.pageForgetDevice))
	mux.HandleFunc("POST /account/security/devices/forget", s.withPageCaller(s.pageForgetDevices))
	mux.HandleFunc("POST /account/security/sessions/{id}/end", s.withPageCaller(s.pageEndSession))
	mux.HandleFunc("POST /account/security/sessions/end-others", s.withPageCaller(s.pageEndOtherSessions))
	mux.HandleFunc("POST /account/security/app-passwords", s.withPageCaller(s.pageCreateAppPassword))
	mux.HandleFunc("POST /account/security/app-passwords/{id}/revoke", s.withPageCaller(s.pageRevokeAppPassword))
	mux.HandleFunc("GET /account/email", s.withPageCaller(s.pageChangeEmail))
	mux.HandleFunc("POST /account/email", s.withPageCaller(s.pageChangeEmailPost))
	mux.HandleFunc("POST /account/email/verify", s.withPageCaller(s.pageVerifyEmailPost))
	mux.HandleFunc("GET /account/password", s.withPageCaller(s.pageChangePassword))
	mux.HandleFunc("POST /account/password", s.withPageCaller(s.pageChangePasswordPost))
	mux.HandleFunc("GET /account/activity", s.withPageCaller(s.pageActivity))
	mux.HandleFunc("GET /admin/{$}", s.withPageCaller(s.pageAdmin))
	mux.HandleFunc("GET /admin/members", s.withPageCaller(s.pageMembers))
	mux.HandleFunc("POST /admin/members", s.withPageCaller(s.pageMembersInvite))
	mux.HandleFunc("POST /admin/members/{id}/role", s.withPageCaller(s.pageMemberRole))
	mux.HandleFunc("POST /admin/members/{id}/sso", s.withPageCaller(s.pageMemberSSO))
	mux.HandleFunc("POST /admin/members/{id}/end-sessions", s.withPageCaller(s.pageMemberEndSessions))
	mux.HandleFunc("POST /admin/members/{id}/unlock", s.withPageCaller(s.pageMemberUnlock))
	mux.HandleFunc("GET /admin/members/{id}/reset", s.withPageCaller(s.pageMemberReset))
	mux.HandleFunc("POST /admin/members/{id}/reset", s.withPageCaller(s.pageMemberResetPost))
	mux.HandleFunc("GET /admin/policy", s.withPageCaller(s.pagePolicy))
	mux.HandleFunc("POST /admin/policy", s.withPageCaller(s.pagePolicyPost))
	mux.HandleFunc("GET /admin/audit", s.withPageCaller(s.pageAudit))
	mux.HandleFunc("GET /setup/{token}", s.pageSetup)
	mux.HandleFunc("POST /setup/{token}", s.pageSetupPost)
	mux.HandleFunc("GET /set-password/{token}", s.pageSetPassword)
	mux.HandleFunc("POST /set-password/{token}", s.pageSetPasswordPost)
	mux.HandleFunc("GET /invite/{token}", s.pageInvite)
	mux.HandleFunc("POST /invite/{token}", s.pageInvitePost)
	// Adding a method: one set of handlers (pages_methods.go) at two bases, the
	// security settings of a signed-in account (its session cookie) and the
	// enrolment a sign-in must do first (the sign-in token in its cookie).
	// Each line is two URLs: POST /account/security/totp and POST /sign-in/enrol/totp.
	addMethod := []struct {
		method, path string
		page         callerPage
	}{
		{"POST", "/totp", s.pageAddTOTP},
		{"GET", "/totp/{id}", s.pageTOTP},
		{"POST", "/totp/{id}", s.pageTOTPPost},
		{"GET", "/email", s.pageAddEmail},
		{"POST", "/email", s.pageAddEmailPost},
		{"GET", "/email/{id}", s.pageEmailFactor},
		{"POST", "/email/{id}", s.pageEmailFactorPost},
		{"POST", "/email/{id}/resend", s.pageEmailFactorResend},
		{"GET", "/phone", s.pageAddPhone},
		{"POST", "/phone", s.pageAddPhonePost},
		{"GET", "/phone/{id}", s.pagePhoneFactor},
		{"POST", "/phone/{id}", s.pagePhoneFactorPost},
		{"POST", "/phone/{id}/resend", s.pagePhoneFactorResend},
		{"GET", "/webauthn", s.pageAddWebAuthn},
		{"POST", "/webauthn", s.pageAddWebAuthnPost},
		{"GET", "/webauthn/{id}", s.pageWebAuthnFactor},
		{"POST", "/webauthn/{id}", s.pageWebAuthnFactorPost},
		{"POST", "/factors/{id}/remove", s.pageRemoveFactor},
	}
	bases := []struct {
		path string
		auth func(callerPage) http.HandlerFunc
	}{
		{securityBase, s.withPageCaller}, // /account/security
		{enrolBase, s.withEnrolPage},     // /sign-in/enrol
	}
	for _, b := range bases {
		for _, m := range addMethod {
			mux.HandleFunc(m.method+" "+b.path+m.path, b.auth(m.page))
		}
	}

	mux.HandleFunc("GET /static/brand.css", s.serveBrandCSS)
	mux.HandleFunc("GET /static/logo", s.serveLogo)
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	// Every cookie-authenticated write must pass cross-origin protection (CS-01);
	// bearer-token clients send no Origin or Sec-Fetch-Site and pass through.
	csrf := http.NewCrossOriginProtection()
	return s.recoverPanics(s.securityHeaders(csrf.Handler(s.limitBody(s.withDatabaseDeadline(mux)))))
}

// MetricsOnly is the handler of the second listener, TWOSTEP_METRICS_LISTEN
// (API.md §3.4): GET /metrics for whoever reaches that address (the operator
// chose who can), and 404 for everything else.
func MetricsOnly(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return mux
}
