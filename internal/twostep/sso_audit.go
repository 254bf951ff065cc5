package twostep

// Audit events of organisations' own identity providers (API.md §12).
const (
	EventSSOConnectionChanged EventType = "sso.connection_changed"
	EventSSOConnectionRemoved EventType = "sso.connection_removed"
	EventSSODomainChanged     EventType = "sso.domain_changed"
	EventSSOLinked            EventType = "sso.linked"
	EventSSOSignInFailed      EventType = "sso.sign_in_failed"
)

func init() {
	eventDetails[EventSSOConnectionChanged] = func() EventDetail { return &SSOConnectionChanged{} }
	eventDetails[EventSSOConnectionRemoved] = func() EventDetail { return &SSOConnectionRemoved{} }
	eventDetails[EventSSODomainChanged] = func() EventDetail { return &SSODomainChanged{} }
	eventDetails[EventSSOLinked] = func() EventDetail { return &SSOLinked{} }
	eventDetails[EventSSOSignInFailed] = func() EventDetail { return &SSOSignInFailed{} }
}

type (
	// SSOConnectionChanged: an owner set the organisation's connection;
	// Before is what it replaced (nil for a new one). SecretChanged says a
	// new client secret came, never the secret.
	SSOConnectionChanged struct {
		Issuer        string              `json:"issuer"`
		ClientID      string              `json:"client_id"`
		SecondStep    SSORule             `json:"second_step"`
		SecretChanged bool                `json:"secret_changed"`
		Before        *SSOConnectionState `json:"before,omitempty"`
	}
	// SSOConnectionRemoved: an owner turned SSO off.
	SSOConnectionRemoved struct {
		Issuer string `json:"issuer"`
	}
	// SSODomainChanged: the operator gave (Added) or took an e-mail domain.
	SSODomainChanged struct {
		Domain string `json:"domain"`
		Added  bool   `json:"added,omitempty"`
	}
	// SSOLinked: a first sign-in through Provider linked its Subject to the
	// account, which it Created (just in time) or found (already SSO).
	SSOLinked struct {
		Provider string `json:"provider"`
		Subject  string `json:"subject"`
		Created  bool   `json:"created,omitempty"`
	}
	// SSOSignInFailed: a sign-in back from Provider was refused, for Reason
	// ("iss", "nonce", "token", "token_expired", "provider_error", or an
	// InvalidError reason such as "sso_email_unverified").
	SSOSignInFailed struct {
		Provider string `json:"provider"`
		Reason   string `json:"reason"`
	}
)

// SSOConnectionState is a connection as the audit trail keeps it.
type SSOConnectionState struct {
	Issuer     string  `json:"issuer"`
	ClientID   string  `json:"client_id"`
	SecondStep SSORule `json:"second_step"`
}

func (*SSOConnectionChanged) EventType() EventType { return EventSSOConnectionChanged }
func (*SSOConnectionRemoved) EventType() EventType { return EventSSOConnectionRemoved }
func (*SSODomainChanged) EventType() EventType     { return EventSSODomainChanged }
func (*SSOLinked) EventType() EventType            { return EventSSOLinked }
func (*SSOSignInFailed) EventType() EventType      { return EventSSOSignInFailed }
