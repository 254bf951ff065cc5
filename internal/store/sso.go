package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Organisations' own identity providers (API.md §12).

const ssoConnectionCols = `org_id, issuer, client_id, client_secret, second_step, created_at, updated_at`

func scanSSOConnection(s scanner) (*twostep.SSOConnection, error) {
	var c twostep.SSOConnection
	err := s.Scan(&c.OrgID, &c.Issuer, &c.ClientID, &c.ClientSecret, &c.SecondStep, tm{&c.CreatedAt}, tm{&c.UpdatedAt})
	return &c, err
}

// PutSSOConnection adds or replaces the organisation's connection in one statement.
func (db *DB) PutSSOConnection(ctx context.Context, c *twostep.SSOConnection) error {
	_, err := db.exec(ctx, `INSERT INTO sso_connections (`+ssoConnectionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
		client_secret = excluded.client_secret, second_step = excluded.second_step, updated_at = excluded.updated_at`,
		c.OrgID, c.Issuer, c.ClientID, c.ClientSecret, string(c.SecondStep), us(c.CreatedAt), us(c.UpdatedAt))
	return wrap(err, "put sso connection")
}

// SSOConnection returns the organisation's connection, or ErrNotFound.
func (db *DB) SSOConnection(ctx context.Context, orgID string) (*twostep.SSOConnection, error) {
	return one(db.row(ctx, `SELECT `+ssoConnectionCols+` FROM sso_connections WHERE org_id = ?`, orgID),
		scanSSOConnection, "sso connection")
}

// DeleteSSOConnection removes the organisation's connection; false if it had none.
func (db *DB) DeleteSSOConnection(ctx context.Context, orgID string) (bool, error) {
	return db.execDid(ctx, "delete sso connection", `DELETE FROM sso_connections WHERE org_id = ?`, orgID)
}

// AnySSOConnection reports whether any organisation has a connection.
func (db *DB) AnySSOConnection(ctx context.Context) (bool, error) {
	var any bool
	err := db.row(ctx, `SELECT EXISTS (SELECT 1 FROM sso_connections)`).Scan(&any)
	return any, wrap(err, "any sso connection")
}

const ssoDomainCols = `domain, org_id, created_at`

func scanSSODomain(s scanner) (*twostep.SSODomain, error) {
	var d twostep.SSODomain
	err := s.Scan(&d.Domain, &d.OrgID, tm{&d.CreatedAt})
	return &d, err
}

// AddSSODomain stores d; ErrConflict when the domain belongs to an organisation.
func (db *DB) AddSSODomain(ctx context.Context, d *twostep.SSODomain) error {
	_, err := db.exec(ctx, `INSERT INTO sso_domains (`+ssoDomainCols+`) VALUES (?, ?, ?)`, d.Domain, d.OrgID, us(d.CreatedAt))
	return wrap(err, "add sso domain")
}

// RemoveSSODomain removes the organisation's domain; false if it has none such.
func (db *DB) RemoveSSODomain(ctx context.Context, orgID, domain string) (bool, error) {
	return db.execDid(ctx, "remove sso domain", `DELETE FROM sso_domains WHERE org_id = ? AND domain = ?`, orgID, domain)
}

// SSODomain returns the domain's record, or ErrNotFound.
func (db *DB) SSODomain(ctx context.Context, domain string) (*twostep.SSODomain, error) {
	return one(db.row(ctx, `SELECT `+ssoDomainCols+` FROM sso_domains WHERE domain = ?`, domain), scanSSODomain, "sso domain")
}

// SSODomains lists the organisation's domains, by name.
func (db *DB) SSODomains(ctx context.Context, orgID string) ([]*twostep.SSODomain, error) {
	return list(ctx, db, scanSSODomain, "sso domains", `SELECT `+ssoDomainCols+` FROM sso_domains
		WHERE org_id = ? ORDER BY domain`, orgID)
}

const ssoIdentityCols = `org_id, issuer, subject, account_id, email, created_at, last_sign_in_at`

func scanSSOIdentity(s scanner) (*twostep.SSOIdentity, error) {
	var i twostep.SSOIdentity
	err := s.Scan(&i.OrgID, &i.Issuer, &i.Subject, &i.AccountID, &i.Email, tm{&i.CreatedAt}, tm{&i.LastSignInAt})
	return &i, err
}

// CreateSSOIdentity stores i; ErrConflict when (org, issuer, subject) or
// (account, issuer) is taken.
func (db *DB) CreateSSOIdentity(ctx context.Context, i *twostep.SSOIdentity) error {
	_, err := db.exec(ctx, `INSERT INTO sso_identities (`+ssoIdentityCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		i.OrgID, i.Issuer, i.Subject, i.AccountID, i.Email, us(i.CreatedAt), us(i.LastSignInAt))
	return wrap(err, "create sso identity")
}

// SSOIdentity returns the identity (org, issuer, subject), or ErrNotFound.
func (db *DB) SSOIdentity(ctx context.Context, orgID, issuer, subject string) (*twostep.SSOIdentity, error) {
	return one(db.row(ctx, `SELECT `+ssoIdentityCols+` FROM sso_identities WHERE org_id = ? AND issuer = ? AND subject = ?`,
		orgID, issuer, subject), scanSSOIdentity, "sso identity")
}

// TouchSSOIdentity records a sign-in of the identity and the e-mail the provider gave.
func (db *DB) TouchSSOIdentity(ctx context.Context, orgID, issuer, subject, email string, at time.Time) error {
	return db.execOne(ctx, "touch sso identity", `UPDATE sso_identities SET email = ?, last_sign_in_at = ?
		WHERE org_id = ? AND issuer = ? AND subject = ?`, email, us(at), orgID, issuer, subject)
}

// SSOIdentities lists the identities linked to accounts of the organisation.
func (db *DB) SSOIdentities(ctx context.Context, orgID string) ([]*twostep.SSOIdentity, error) {
	return list(ctx, db, scanSSOIdentity, "sso identities", `SELECT `+ssoIdentityCols+` FROM sso_identities
		WHERE org_id = ? ORDER BY account_id, issuer`, orgID)
}

const ssoLoginCols = `id, state_hash, org_id, issuer, nonce, verifier, iss_required, session_id, created_at,
	expires_at, consumed_at`

func scanSSOLogin(s scanner) (*twostep.SSOLogin, error) {
	var l twostep.SSOLogin
	err := s.Scan(&l.ID, &l.StateHash, &l.OrgID, &l.Issuer, &l.Nonce, &l.Verifier, &l.IssRequired, &l.SessionID,
		tm{&l.CreatedAt}, tm{&l.ExpiresAt}, tm{&l.ConsumedAt})
	return &l, err
}

// CreateSSOLogin stores l; ErrConflict if its id or state is taken.
func (db *DB) CreateSSOLogin(ctx context.Context, l *twostep.SSOLogin) error {
	_, err := db.exec(ctx, `INSERT INTO sso_logins (`+ssoLoginCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.StateHash, l.OrgID, l.Issuer, l.Nonce, l.Verifier, l.IssRequired, l.SessionID,
		us(l.CreatedAt), us(l.ExpiresAt), us(l.ConsumedAt))
	return wrap(err, "create sso login")
}

// SSOLoginByState returns the sign-in with stateHash, or ErrNotFound.
func (db *DB) SSOLoginByState(ctx context.Context, stateHash []byte) (*twostep.SSOLogin, error) {
	return one(db.row(ctx, `SELECT `+ssoLoginCols+` FROM sso_logins WHERE state_hash = ?`, stateHash),
		scanSSOLogin, "sso login")
}

// ConsumeSSOLogin marks the sign-in consumed unless it is, in one statement,
// and reports whether this call did.
func (db *DB) ConsumeSSOLogin(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, errors.New("store: consume sso login: zero time") // would leave it unconsumed
	}
	return db.execDid(ctx, "consume sso login",
		`UPDATE sso_logins SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL`, us(at), id)
}

// upstreamJSON is a challenge's upstream column: empty for none.
func upstreamJSON(u *twostep.Upstream) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := json.Marshal(u)
	return string(b), err
}

func parseUpstream(s string) (*twostep.Upstream, error) {
	if s == "" {
		return nil, nil
	}
	var u twostep.Upstream
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		return nil, errors.New("store: challenge upstream: " + err.Error())
	}
	return &u, nil
}
