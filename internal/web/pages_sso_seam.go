package web

import (
	"context"
)

// The pages' view of organisations' own identity providers (API.md §12).
// Until the domain's SSO service lands these say "no SSO anywhere"; they are
// the only place the pages ask the domain about SSO, so wiring them is one
// edit.

// ssoAny reports whether any organisation has an SSO connection: the sign-in
// page then asks for the e-mail address first.
func (s *Server) ssoAny(ctx context.Context) (bool, error) { return false, nil }

// ssoStart returns where home-realm discovery sends email: the local path
// that starts the sign-in at its organisation's provider, or "" when the
// address signs in with a password (or has no account: the answer must not
// tell them apart, SECURITY.md EN-01).
func (s *Server) ssoStart(ctx context.Context, email string) (string, error) { return "", nil }
