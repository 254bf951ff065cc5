package web

import (
	"bytes"
	"net/http"

	"github.com/twostep/twostep/internal/twostep"
)

// deviceRow is one device on the security page.
type deviceRow struct {
	ID         string
	Name       string // "Firefox on Linux", as far as its User-Agent says
	FirstUsed  string
	LastUsed   string
	IP         string
	Remembered string // until when it skips the second step; "" when it does not
	Current    bool   // the browser looking at the page
}

// deviceRows lists the caller's devices for the security page, the browser
// asking marked as this one.
func (s *Server) deviceRows(r *http.Request, p *page, c *twostep.Caller, pol twostep.Policy) ([]deviceRow, error) {
	ds, err := s.svc.MemberDevices(r.Context(), c)
	if err != nil {
		return nil, err
	}
	var mine []byte
	if tok := s.deviceToken(r); tok != "" {
		mine = twostep.HashToken(tok)
	}
	out := make([]deviceRow, 0, len(ds))
	for _, d := range ds {
		row := deviceRow{ID: d.ID, Name: p.deviceName(d.UserAgent), FirstUsed: p.When(d.CreatedAt), LastUsed: p.When(d.LastUsedAt),
			IP: d.IP, Current: mine != nil && bytes.Equal(mine, d.TokenHash)}
		if until := d.RememberedUntilUnder(pol); s.clock().Before(until) {
			row.Remembered = p.When(until)
		}
		out = append(out, row)
	}
	return out, nil
}

func (s *Server) pageForgetDevice(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if err := s.svc.ForgetDevice(r.Context(), c, r.PathValue("id")); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=device_forgotten")
}

func (s *Server) pageForgetDevices(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	if _, err := s.svc.ForgetAllDevices(r.Context(), c); err != nil {
		s.securityError(w, r, c, err)
		return
	}
	redirect(w, r, "/account/security?done=devices_forgotten")
}

type deviceJSON struct {
	ID              string   `json:"id"`
	Browser         *string  `json:"browser"`
	Platform        *string  `json:"platform"`
	UserAgent       string   `json:"user_agent"`
	IP              string   `json:"ip"`
	CreatedAt       jsonTime `json:"created_at"`
	LastUsedAt      jsonTime `json:"last_used_at"`
	ExpiresAt       jsonTime `json:"expires_at"`
	RememberedUntil jsonTime `json:"remembered_until"`
}

// apiDevices: GET /api/v1/account/devices, the most recently used first.
func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	ds, err := s.svc.MemberDevices(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	info, err := s.svc.AccountInfo(r.Context(), c)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		ag := DescribeUserAgent(d.UserAgent)
		j := deviceJSON{ID: d.ID, Browser: nullString(ag.Browser), Platform: nullString(ag.Platform), UserAgent: d.UserAgent, IP: d.IP,
			CreatedAt: jsonTime(d.CreatedAt), LastUsedAt: jsonTime(d.LastUsedAt), ExpiresAt: jsonTime(d.ExpiresAt)}
		if until := d.RememberedUntilUnder(info.Org.Policy); s.clock().Before(until) {
			j.RememberedUntil = jsonTime(until)
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// apiForgetDevice: DELETE /api/v1/account/devices/{id} → 204.
func (s *Server) apiForgetDevice(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	s.answer(w, r, http.StatusNoContent, nil, s.svc.ForgetDevice(r.Context(), c, r.PathValue("id")))
}

// apiForgetDevices: DELETE /api/v1/account/devices ("forget all") → 204.
func (s *Server) apiForgetDevices(w http.ResponseWriter, r *http.Request, c *twostep.Caller) {
	_, err := s.svc.ForgetAllDevices(r.Context(), c)
	s.answer(w, r, http.StatusNoContent, nil, err)
}
