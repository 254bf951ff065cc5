package twostep

// Reason is the stable code of an InvalidError: what is wrong with a value,
// in snake_case, never reworded once published (the JSON API returns it as
// "reason"). The words for each live in the web adapter's catalogue; the
// comment next to each code names the Args it carries.
type Reason string

// Reasons a value of any kind is refused.
const (
	ReasonRequired  Reason = "required"
	ReasonTooLong   Reason = "too_long" // Max: characters
	ReasonLength    Reason = "length"   // Min, Max: characters
	ReasonTooFew    Reason = "too_few"  // Min
	ReasonTextUTF8  Reason = "text_utf8"
	ReasonTextChars Reason = "text_chars" // Char: "U+202E", Position: 1-based character index
	ReasonVersion   Reason = "version"
	ReasonLocale    Reason = "locale" // Locales: "en, fr, ja"
)

// Reasons about accounts, e-mail addresses and passwords.
const (
	ReasonEmail           Reason = "email"
	ReasonEmailTaken      Reason = "email_taken"
	ReasonEmailSame       Reason = "email_same"
	ReasonAccountUnknown  Reason = "account_unknown" // Email
	ReasonPasswordShort   Reason = "password_short"  // Min: characters
	ReasonPasswordLong    Reason = "password_long"   // Max: bytes
	ReasonPasswordCommon  Reason = "password_common"
	ReasonCurrentPassword Reason = "current_password"
	ReasonSSONoPassword   Reason = "sso_no_password"
	ReasonNoEmailChange   Reason = "no_email_change"
	ReasonRole            Reason = "role"
)

// Reasons about codes, methods and the second step.
const (
	ReasonCodeDigits         Reason = "code_digits"
	ReasonRecoveryCode       Reason = "recovery_code"
	ReasonCodeRequired       Reason = "code_required"
	ReasonMethodUnknown      Reason = "method_unknown" // Methods: the ones accepted, "totp, email"
	ReasonMethodNotSending   Reason = "method_not_sending"
	ReasonNoSecondStep       Reason = "no_second_step"
	ReasonNoRecoveryCode     Reason = "no_recovery_code"
	ReasonNoSuchMethod       Reason = "no_such_method"    // Method
	ReasonFactorNotActive    Reason = "factor_not_active" // Method
	ReasonNotResendable      Reason = "not_resendable"
	ReasonDefaultTrue        Reason = "default_true"
	ReasonDefaultPending     Reason = "default_pending"
	ReasonLegacyNeedsTwoStep Reason = "legacy_needs_two_step"
)

// Reasons a phone number is refused.
const (
	ReasonPhone                  Reason = "phone"
	ReasonPhoneLong              Reason = "phone_long"
	ReasonCountryRequired        Reason = "country_required"
	ReasonCountryCode            Reason = "country_code"
	ReasonPhoneNotValid          Reason = "phone_not_valid"
	ReasonPhoneNotValidIn        Reason = "phone_not_valid_in"        // Country: region code
	ReasonPhoneCountryNotAllowed Reason = "phone_country_not_allowed" // Country, Countries: the allowed region codes, "FR, BE"
	ReasonPhonePremium           Reason = "phone_premium"
	ReasonPhoneType              Reason = "phone_type"
	ReasonPhoneFixedSMS          Reason = "phone_fixed_sms"
)

// Reasons about organisations and their policy.
const (
	ReasonTwoStepMode      Reason = "two_step"
	ReasonGraceDays        Reason = "grace_days"
	ReasonRememberDays     Reason = "remember_days" // Max: days
	ReasonMethodsNone      Reason = "methods_none"
	ReasonMethodNotOffered Reason = "method_not_offered" // Method, Methods: the ones this server offers
	ReasonSlug             Reason = "slug"
	ReasonSlugTaken        Reason = "slug_taken"  // Slug
	ReasonOrgUnknown       Reason = "org_unknown" // Org: the id or slug given
)

// Reasons a line of an account import is refused (API.md §9).
const (
	ReasonImportJSON    Reason = "import_json" // the line is not one JSON object
	ReasonImportField   Reason = "import_field"
	ReasonHashUnknown   Reason = "hash_unknown"
	ReasonHashMalformed Reason = "hash_malformed"  // Scheme
	ReasonHashTooCostly Reason = "hash_too_costly" // Scheme, Max: the ceiling, "cost 14"
	ReasonTOTPSecret    Reason = "totp_secret"     // Min, Max: bytes
	ReasonPhoneE164     Reason = "phone_e164"
	ReasonSSONoMethods  Reason = "sso_no_methods"
)

// Reasons about OpenID Connect clients and authorization requests (API.md §7).
const (
	ReasonRedirectURIs       Reason = "redirect_uris_none"
	ReasonClientURL          Reason = "client_url"
	ReasonURL                Reason = "url"
	ReasonHTTPSURL           Reason = "https_url"
	ReasonHostUnresolved     Reason = "host_unresolved" // Host
	ReasonHostUnchecked      Reason = "host_unchecked"  // Host
	ReasonPrivateAddress     Reason = "private_address" // Address
	ReasonRedirectURIUnknown Reason = "redirect_uri_unknown"
	ReasonResponseTypeCode   Reason = "response_type_code"
	ReasonScopeOpenID        Reason = "scope_openid"
	ReasonPKCEChallenge      Reason = "pkce_challenge_required"
	ReasonPKCEPublic         Reason = "pkce_public_client"
	ReasonPKCEMethod         Reason = "pkce_s256"
	ReasonPKCEFormat         Reason = "pkce_format"
	ReasonStateLong          Reason = "state_long" // Max: characters
)

// Reasons about the Verify API (API.md §10).
const (
	ReasonCodeLength        Reason = "code_length"        // Min, Max: digits
	ReasonVerifyChannel     Reason = "verify_channel"     // Channels: the ones accepted
	ReasonVerifyChannelOff  Reason = "verify_channel_off" // Channel: one this server does not offer
	ReasonVerifyToOrSID     Reason = "verify_to_or_sid"
	ReasonFactorType        Reason = "factor_type" // Types: the ones accepted
	ReasonFactorNotVerified Reason = "factor_not_verified"
)

// Reasons about passkeys and security keys (API.md §11).
const (
	ReasonWebAuthnIPHost    Reason = "webauthn_ip_host" // Host: the base URL's host, an IP address
	ReasonWebAuthnNoHost    Reason = "webauthn_no_host"
	ReasonWebAuthnOff       Reason = "webauthn_off"
	ReasonCredentialFormat  Reason = "credential_format"
	ReasonCredentialExpired Reason = "credential_expired"
	ReasonCredentialRefused Reason = "credential_refused"
	ReasonCredentialTaken   Reason = "credential_taken"
	ReasonPasskeyNoUV       Reason = "passkey_no_uv"
	// ReasonPhishingResistantWebAuthn: admins_phishing_resistant needs
	// webauthn among the allowed methods.
	ReasonPhishingResistantWebAuthn Reason = "phishing_resistant_webauthn"
)

// Reasons about organisations' own identity providers (API.md §12).
const (
	ReasonSSORule            Reason = "sso_rule"
	ReasonSSODomain          Reason = "sso_domain"
	ReasonSSODiscovery       Reason = "sso_discovery" // Issuer
	ReasonSSOState           Reason = "sso_state"
	ReasonSSOIssuer          Reason = "sso_issuer"
	ReasonSSOProviderError   Reason = "sso_provider_error" // Error: the provider's error code
	ReasonSSOToken           Reason = "sso_token"
	ReasonSSOTokenExpired    Reason = "sso_token_expired"
	ReasonSSONonce           Reason = "sso_nonce"
	ReasonSSOEmailUnverified Reason = "sso_email_unverified"
	ReasonSSONoEmail         Reason = "sso_no_email"
	ReasonSSOAccountTaken    Reason = "sso_account_taken" // Email
	ReasonSSOOtherAccount    Reason = "sso_other_account"
	ReasonSSONotFresh        Reason = "sso_not_fresh"
)
