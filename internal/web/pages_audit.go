package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// auditPage is how many events /admin/audit shows at once.
const auditPage = 50

// auditTypes are the event types the audit page filters by, as the ids of their names.
var auditTypes = []string{
	"event.sign_in.succeeded", "event.sign_in.failed", "event.sign_in.locked", "event.second_step.failed", "event.second_step.locked",
	"event.second_step.replayed", "event.two_step.enabled", "event.two_step.disabled", "event.factor.added",
	"event.factor.removed", "event.recovery_codes.generated", "event.recovery_code.used", "event.two_step.reset_by_admin",
	"event.policy.changed", "event.member.changed", "event.account.created", "event.account.unlocked",
	"event.sessions.ended", "event.delivery.capped", "event.email.changed", "event.password.changed",
	"event.password.reset", "event.identity.confirmed", "event.legacy_clients.changed",
}

type auditData struct {
	Rows     []eventRow
	Members  []option
	Types    []option
	Older    string
	Newest   string // the first page's address, from an older one; "" on the first
	Filtered bool
}

func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	p, _, err := s.adminPage(r, c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	before, _, err := pageQuery(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	account, typ := q.Get("account"), q.Get("type")
	members, err := s.svc.Members(r.Context(), c)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	evs, err := s.svc.OrgEvents(r.Context(), c, twostep.EventFilter{AccountID: account, Type: twostep.EventType(typ), Before: before, Limit: auditPage})
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	d := auditData{Filtered: account != "" || typ != ""}
	if before != 0 {
		first := url.Values{}
		if account != "" {
			first.Set("account", account)
		}
		if typ != "" {
			first.Set("type", typ)
		}
		d.Newest = "/admin/audit"
		if len(first) > 0 {
			d.Newest += "?" + first.Encode()
		}
	}
	emails := make(map[string]string, len(members))
	for _, m := range members {
		emails[m.Account.ID] = m.Account.Email
		d.Members = append(d.Members, option{Value: m.Account.ID, Label: m.Account.Email, Selected: m.Account.ID == account})
	}
	slices.SortFunc(d.Members, func(a, b option) int { return strings.Compare(a.Label, b.Label) })
	for _, id := range auditTypes {
		t := strings.TrimPrefix(id, "event.")
		d.Types = append(d.Types, option{Value: t, Label: p.T(id), Selected: t == typ})
	}
	who := func(id string) string {
		switch {
		case id == "":
			return ""
		case id == twostep.OperatorActor:
			return p.T("audit.operator")
		case emails[id] != "":
			return emails[id]
		}
		return id // an account since deleted, or of the server
	}
	for _, e := range evs {
		d.Rows = append(d.Rows, eventRow{At: p.WhenSeconds(e.At), What: p.auditText(e, who), IP: e.IP, Device: p.deviceName(e.UserAgent)})
	}
	if len(evs) == auditPage {
		older := url.Values{"before": {strconv.FormatInt(evs[len(evs)-1].ID, 10)}}
		if account != "" {
			older.Set("account", account)
		}
		if typ != "" {
			older.Set("type", typ)
		}
		d.Older = "/admin/audit?" + older.Encode()
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "audit", p)
}

// auditText says an audit event in words: who did what to whom, read from the
// event's typed detail. An event it cannot describe says its type (a test
// holds every type to a sentence in every language).
func (p *page) auditText(e *twostep.AuditEvent, who func(string) string) string {
	actor, account := who(e.ActorID), who(e.AccountID)
	if actor == "" {
		actor = account
	}
	kv := []any{"Actor", actor, "Account", account}
	id := "audit." + string(e.Type)
	detail, err := twostep.DetailOf(e)
	if err != nil {
		return p.T("audit.other", "Type", e.Type, "Account", account)
	}
	switch d := detail.(type) {
	case *twostep.SignInSucceeded:
		if d.Provider != "" {
			kv = append(kv, "Provider", d.Provider)
			switch d.SecondStep {
			case twostep.SecondStepUpstream:
				id = "audit.sign_in.sso_upstream"
			case twostep.SecondStepExempt:
				id = "audit.sign_in.sso_exempt"
			case twostep.SecondStepProven:
				id = "audit.sign_in.sso_proven"
			default:
				id = "audit.sign_in.sso"
			}
		} else if until, ok := d.GraceTime(); ok {
			id, kv = "audit.sign_in.grace", append(kv, "Until", p.When(until))
		} else if d.Enrolled {
			id = "audit.sign_in.enrolled"
		} else if d.LegacyClient != "" {
			id, kv = "audit.sign_in.legacy", append(kv, "Version", d.LegacyClient)
		} else if d.Device != "" {
			id = "audit.sign_in.remembered"
		} else if d.AppPassword != "" {
			id = "audit.sign_in.app_password"
		} else if d.Passwordless {
			id = "audit.sign_in.passkey"
		}
	case *twostep.SignInFailed:
		switch d.Reason {
		case "passkey":
			id = "audit.sign_in.passkey_failed"
		case "passkey_no_uv":
			id = "audit.sign_in.passkey_no_uv"
		}
	case *twostep.FactorRenamed:
		kv = append(kv, "Method", p.methodName(string(d.Method)), "Before", d.Before, "After", d.After)
	case *twostep.WebAuthnSignCountRegressed:
		kv = append(kv, "Stored", d.Stored, "Presented", d.Presented)
	case *twostep.AppPasswordCreated:
		kv = append(kv, "Label", d.Label)
	case *twostep.DeviceForgotten:
		kv = append(kv, "Count", d.Count)
	case *twostep.DeviceRemembered:
		if until, err := time.Parse(time.RFC3339, d.Until); err == nil {
			kv = append(kv, "Until", p.When(until))
		}
	case *twostep.FactorAdded:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.FactorRemoved:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.TwoStepEnabled:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.SecondStepFailed:
		kv = append(kv, "Method", p.methodName(string(d.Method)))
	case *twostep.SignInLocked:
		kv = append(kv, "Until", lockEnd(p, d))
	case *twostep.DeliveryCapped:
		kv = append(kv, "Method", p.methodName(d.Channel))
	case *twostep.DeliveryFailed:
		kv = append(kv, "Method", p.methodName(d.Channel))
	case *twostep.APIKeyCreated:
		kv = append(kv, "Key", d.Name+" ("+d.KeyID+")")
	case *twostep.APIKeyRevoked:
		kv = append(kv, "Key", d.Name+" ("+d.KeyID+")")
	case *twostep.APIKeyUsed:
		kv = append(kv, "Key", d.KeyID, "Operation", d.Operation, "SID", d.SID, "Outcome", d.Outcome)
	case *twostep.PasswordChanged:
		if d.Via == "link" {
			id = "audit.password.set"
		}
	case *twostep.SessionsEnded:
		switch {
		case d.Which == "one":
			id = "audit.sessions.ended_one"
		case e.ActorID == e.AccountID:
			id = "audit.sessions.ended_self"
		}
	case *twostep.AccountCreated:
		if d.Role.Valid() {
			kv = append(kv, "Role", p.roleName(d.Role))
		} else {
			kv = append(kv, "Role", string(d.Role))
		}
		if d.Invited {
			id = "audit.account.invited"
		}
	case *twostep.PolicyChanged:
		switch {
		case d.After.TwoStep == twostep.PolicyRequired && d.Before.TwoStep != twostep.PolicyRequired:
			id = "audit.policy.required"
		case d.After.TwoStep == twostep.PolicyOptional && d.Before.TwoStep == twostep.PolicyRequired:
			id = "audit.policy.optional"
		}
	case *twostep.SSOConnectionChanged:
		kv = append(kv, "Issuer", d.Issuer, "SecondStep", string(d.SecondStep))
	case *twostep.SSOConnectionRemoved:
		kv = append(kv, "Issuer", d.Issuer)
	case *twostep.SSODomainChanged:
		kv = append(kv, "Domain", d.Domain)
		id = "audit.sso.domain_removed"
		if d.Added {
			id = "audit.sso.domain_added"
		}
	case *twostep.SSOLinked:
		kv = append(kv, "Provider", d.Provider)
		if d.Created {
			id = "audit.sso.linked_created"
		}
	case *twostep.SSOSignInFailed:
		kv = append(kv, "Provider", d.Provider, "Reason", d.Reason)
	case *twostep.MemberChanged:
		switch {
		case d.Role.Before != d.Role.After:
			id, kv = "audit.member.role", append(kv, "From", p.roleName(d.Role.Before), "To", p.roleName(d.Role.After))
		case d.SSO.After && !d.SSO.Before:
			id = "audit.member.sso_on"
		case !d.SSO.After && d.SSO.Before:
			id = "audit.member.sso_off"
		}
	}
	if text, ok := p.tr(id, kv...); ok {
		return text
	}
	return p.T("audit.other", "Type", e.Type, "Account", account)
}
