package store

import (
	"context"

	"github.com/twostep/twostep/internal/twostep"
)

// Orgs.

const orgCols = `id, name, slug, two_step, grace_period_days, allowed_methods,
	min_client_version, allow_legacy_clients, policy_changed_at, created_at,
	remember_device_days, allow_app_passwords, admins_phishing_resistant, webauthn_offered`

func scanOrg(s scanner) (*twostep.Org, error) {
	var o twostep.Org
	var methods string
	p := &o.Policy
	err := s.Scan(&o.ID, &o.Name, &o.Slug, &p.TwoStep, &p.GracePeriodDays, &methods,
		&p.MinClientVersion, &p.AllowLegacyClients, tm{&p.ChangedAt}, tm{&o.CreatedAt},
		&p.RememberDeviceDays, &p.AllowAppPasswords, &p.AdminsPhishingResistant, &p.WebAuthnOffered)
	p.AllowedMethods = split[twostep.Method](methods)
	return &o, err
}

// CreateOrg stores o; ErrConflict if its id or slug is taken.
func (db *DB) CreateOrg(ctx context.Context, o *twostep.Org) error {
	p := &o.Policy
	_, err := db.exec(ctx, `INSERT INTO orgs (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.Slug, p.TwoStep, p.GracePeriodDays, join(p.AllowedMethods),
		p.MinClientVersion, p.AllowLegacyClients, us(p.ChangedAt), us(o.CreatedAt),
		p.RememberDeviceDays, p.AllowAppPasswords, p.AdminsPhishingResistant, p.WebAuthnOffered)
	return wrap(err, "create org")
}

// orgSelect reads orgCols and whether the org has an SSO connection.
const orgSelect = `SELECT ` + orgCols + `,
	EXISTS (SELECT 1 FROM sso_connections s WHERE s.org_id = orgs.id) FROM orgs`

// scanOrgWithSSO scans an orgSelect row.
func scanOrgWithSSO(s scanner) (*twostep.Org, error) {
	var sso bool
	o, err := scanOrg(scanFunc(func(dest ...any) error { return s.Scan(append(dest, &sso)...) }))
	o.SSOConnected = sso
	return o, err
}

// Org returns the org with id, or ErrNotFound.
func (db *DB) Org(ctx context.Context, id string) (*twostep.Org, error) {
	return one(db.row(ctx, orgSelect+` WHERE id = ?`, id), scanOrgWithSSO, "org")
}

// OrgBySlug returns the org with slug, or ErrNotFound.
func (db *DB) OrgBySlug(ctx context.Context, slug string) (*twostep.Org, error) {
	return one(db.row(ctx, orgSelect+` WHERE slug = ?`, slug), scanOrgWithSSO, "org by slug")
}

// UpdateOrg writes everything of o but its creation time; ErrNotFound if it does
// not exist, ErrConflict if its new slug is taken.
func (db *DB) UpdateOrg(ctx context.Context, o *twostep.Org) error {
	p := &o.Policy
	return db.execOne(ctx, "update org", `UPDATE orgs SET name = ?, slug = ?, two_step = ?,
		grace_period_days = ?, allowed_methods = ?, min_client_version = ?,
		allow_legacy_clients = ?, policy_changed_at = ?, remember_device_days = ?,
		allow_app_passwords = ?, admins_phishing_resistant = ?, webauthn_offered = ? WHERE id = ?`,
		o.Name, o.Slug, p.TwoStep, p.GracePeriodDays, join(p.AllowedMethods),
		p.MinClientVersion, p.AllowLegacyClients, us(p.ChangedAt), p.RememberDeviceDays,
		p.AllowAppPasswords, p.AdminsPhishingResistant, p.WebAuthnOffered, o.ID)
}

// OrgIDs lists the id of every organisation, by id.
func (db *DB) OrgIDs(ctx context.Context) ([]string, error) {
	ids, err := list(ctx, db, func(s scanner) (*string, error) {
		var id string
		return &id, s.Scan(&id)
	}, "org ids", `SELECT id FROM orgs ORDER BY id`)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = *id
	}
	return out, err
}

// CountOrgs returns the number of orgs.
func (db *DB) CountOrgs(ctx context.Context) (int, error) {
	var n int
	err := db.row(ctx, `SELECT count(*) FROM orgs`).Scan(&n)
	return n, wrap(err, "count orgs")
}
