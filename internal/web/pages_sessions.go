package web

import (
	"net/http"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// sessionRow is one place the member is signed in, on the security page.
type sessionRow struct {
	ID        string
	Name      string // the device, in words
	IP        string
	Since     string // signed in at
	LastSeen  string
	Current   bool // this browser's own session: "Sign out" at the top does it
	AppPasswd bool // an old app signed in with an app password
}

// sessionRows are the caller's live sessions, theirs first then the most
// recently used.
func (s *Server) sessionRows(r *http.Request, p *page, c *twostep.Caller) ([]sessionRow, error) {
	ss, err := s.svc.MemberSessions(r.Context(), c)
	if err != nil {
		return nil, err
	}
	out := make([]sessionRow, 0, len(ss))
	for _, x := range ss {
		row := sessionRow{ID: x.ID, Name: p.deviceName(x.UserAgent), IP: x.IP, Since: p.When(x.CreatedAt),
			LastSeen: p.When(x.LastSeenAt), Current: c.Session != nil && x.ID == c.Session.ID, AppPasswd: x.AppPasswordID != ""}
		if row.Current {
			out = append([]sessionRow{row}, out...)
			continue
		}
		out = append(out, row)
	}
	return out, nil
}

// pageEndSession signs the account out of another of its sessions.
func (s *Server) pageEndSession(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.EndSession(r.Context(), c, r.PathValue("id")); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=session_ended#sessions-h")
}

// pageEndOtherSessions signs the account out everywhere but here.
func (s *Server) pageEndOtherSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.EndOtherSessions(r.Context(), c); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=sessions_ended#sessions-h")
}

type sessionJSON struct {
	ID          string   `json:"id"`
	Browser     *string  `json:"browser"`
	Platform    *string  `json:"platform"`
	UserAgent   string   `json:"user_agent"`
	IP          string   `json:"ip"`
	AMR         []string `json:"amr"`
	SecondStep  string   `json:"second_step"`
	AppPassword bool     `json:"app_password"`
	Current     bool     `json:"current"`
	CreatedAt   jsonTime `json:"created_at"`
	LastSeenAt  jsonTime `json:"last_seen_at"`
	ExpiresAt   jsonTime `json:"expires_at"`
}

// apiSessions: GET /api/v1/account/sessions, where the account is signed in,
// the most recently used first.
func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	ss, err := s.svc.MemberSessions(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, x := range ss {
		ag := DescribeUserAgent(x.UserAgent)
		out = append(out, sessionJSON{ID: x.ID, Browser: nullString(ag.Browser), Platform: nullString(ag.Platform), UserAgent: x.UserAgent,
			IP: x.IP, AMR: x.AMR, SecondStep: string(x.SecondStep), AppPassword: x.AppPasswordID != "", Current: x.ID == c.Session.ID,
			CreatedAt: jsonTime(x.CreatedAt), LastSeenAt: jsonTime(x.LastSeenAt), ExpiresAt: jsonTime(ends(x))})
	}
	writeJSON(w, http.StatusOK, out)
}

// ends is when x stops working unless it is used again.
func ends(x *twostep.Session) time.Time {
	if x.IdleExpiresAt.Before(x.ExpiresAt) {
		return x.IdleExpiresAt
	}
	return x.ExpiresAt
}

// apiEndSession: DELETE /api/v1/account/sessions/{id} → 204.
func (s *Server) apiEndSession(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.EndSession(r.Context(), c, r.PathValue("id")))
}
