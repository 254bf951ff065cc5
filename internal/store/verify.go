package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// The Verify API's tables (migration 0016): twostep.APIKeyStore and
// twostep.VerifyStore.

var (
	_ twostep.APIKeyStore = (*DB)(nil)
	_ twostep.VerifyStore = (*DB)(nil)
)

// API keys.

const apiKeyCols = `id, org_id, name, secret_hash, created_at, last_used_at`

func scanAPIKey(s scanner) (*twostep.APIKey, error) {
	var k twostep.APIKey
	err := s.Scan(&k.ID, &k.OrgID, &k.Name, &k.SecretHash, tm{&k.CreatedAt}, tm{&k.LastUsedAt})
	return &k, err
}

// CreateAPIKey stores k; ErrConflict if its id is taken.
func (db *DB) CreateAPIKey(ctx context.Context, k *twostep.APIKey) error {
	_, err := db.exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.OrgID, k.Name, k.SecretHash, us(k.CreatedAt), us(k.LastUsedAt))
	return wrap(err, "create api key")
}

// APIKey returns the key with id, or ErrNotFound.
func (db *DB) APIKey(ctx context.Context, id string) (*twostep.APIKey, error) {
	return one(db.row(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id), scanAPIKey, "api key")
}

// APIKeys lists an organisation's keys, or every key for "", oldest first.
func (db *DB) APIKeys(ctx context.Context, orgID string) ([]*twostep.APIKey, error) {
	if orgID == "" {
		return list(ctx, db, scanAPIKey, "api keys", `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at, id`)
	}
	return list(ctx, db, scanAPIKey, "api keys", `SELECT `+apiKeyCols+` FROM api_keys WHERE org_id = ? ORDER BY created_at, id`, orgID)
}

// DeleteAPIKey removes the key; ErrNotFound if there is none.
func (db *DB) DeleteAPIKey(ctx context.Context, id string) error {
	return db.execOne(ctx, "delete api key", `DELETE FROM api_keys WHERE id = ?`, id)
}

// TouchAPIKey records a use of the key.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := db.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, us(at), id)
	return wrap(err, "touch api key")
}

// Services.

const verifyServiceCols = `sid, org_id, friendly_name, code_length, created_at, updated_at`

func scanVerifyService(s scanner) (*twostep.VerifyService, error) {
	var v twostep.VerifyService
	err := s.Scan(&v.SID, &v.OrgID, &v.FriendlyName, &v.CodeLength, tm{&v.CreatedAt}, tm{&v.UpdatedAt})
	return &v, err
}

// CreateVerifyService stores v; ErrConflict if its sid is taken.
func (db *DB) CreateVerifyService(ctx context.Context, v *twostep.VerifyService) error {
	_, err := db.exec(ctx, `INSERT INTO verify_services (`+verifyServiceCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		v.SID, v.OrgID, v.FriendlyName, v.CodeLength, us(v.CreatedAt), us(v.UpdatedAt))
	return wrap(err, "create verify service")
}

// VerifyService returns the service with sid, or ErrNotFound.
func (db *DB) VerifyService(ctx context.Context, sid string) (*twostep.VerifyService, error) {
	return one(db.row(ctx, `SELECT `+verifyServiceCols+` FROM verify_services WHERE sid = ?`, sid), scanVerifyService, "verify service")
}

// Verifications.

const verificationCols = `sid, service_sid, challenge_id, to_addr, channel, locale, status, send_attempts, created_at,
	updated_at, expires_at`

// sendAttempts is "method unix-microseconds" per line.
func joinSendAttempts(as []twostep.SendAttempt) string {
	lines := make([]string, len(as))
	for i, a := range as {
		lines[i] = string(a.Method) + " " + strconv.FormatInt(a.At.UnixMicro(), 10)
	}
	return strings.Join(lines, "\n")
}

func splitSendAttempts(s string) []twostep.SendAttempt {
	var out []twostep.SendAttempt
	for _, line := range splitLines(s) {
		m, at, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, twostep.SendAttempt{Method: twostep.Method(m), At: time.UnixMicro(n).UTC()})
	}
	return out
}

func scanVerification(s scanner) (*twostep.Verification, error) {
	var v twostep.Verification
	var attempts string
	err := s.Scan(&v.SID, &v.ServiceSID, &v.ChallengeID, &v.To, &v.Method, &v.Locale, &v.Status, &attempts,
		tm{&v.CreatedAt}, tm{&v.UpdatedAt}, tm{&v.ExpiresAt})
	v.SendAttempts = splitSendAttempts(attempts)
	return &v, err
}

// CreateVerification stores v; ErrConflict if its sid or challenge is taken.
func (db *DB) CreateVerification(ctx context.Context, v *twostep.Verification) error {
	_, err := db.exec(ctx, `INSERT INTO verifications (`+verificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.SID, v.ServiceSID, v.ChallengeID, v.To, v.Method, v.Locale, v.Status, joinSendAttempts(v.SendAttempts),
		us(v.CreatedAt), us(v.UpdatedAt), us(v.ExpiresAt))
	return wrap(err, "create verification")
}

// Verification returns the verification with sid, or ErrNotFound.
func (db *DB) Verification(ctx context.Context, sid string) (*twostep.Verification, error) {
	return one(db.row(ctx, `SELECT `+verificationCols+` FROM verifications WHERE sid = ?`, sid), scanVerification, "verification")
}

// LatestVerification returns the newest verification of the service to to.
func (db *DB) LatestVerification(ctx context.Context, serviceSID, to string) (*twostep.Verification, error) {
	return one(db.row(ctx, `SELECT `+verificationCols+` FROM verifications WHERE service_sid = ? AND to_addr = ?
		ORDER BY created_at DESC, sid DESC LIMIT 1`, serviceSID, to), scanVerification, "latest verification")
}

// UpdateVerification writes the verification's method, locale, status, send
// attempts and update time; ErrNotFound if there is none.
func (db *DB) UpdateVerification(ctx context.Context, v *twostep.Verification) error {
	return db.execOne(ctx, "update verification", `UPDATE verifications SET channel = ?, locale = ?, status = ?,
		send_attempts = ?, updated_at = ? WHERE sid = ?`, v.Method, v.Locale, v.Status, joinSendAttempts(v.SendAttempts),
		us(v.UpdatedAt), v.SID)
}

// Entity factors and challenges.

const verifyFactorCols = `sid, service_sid, identity, friendly_name, factor_type, status, secret, created_at, updated_at`

func scanVerifyFactor(s scanner) (*twostep.VerifyFactor, error) {
	var f twostep.VerifyFactor
	err := s.Scan(&f.SID, &f.ServiceSID, &f.Identity, &f.FriendlyName, &f.Type, &f.Status, &f.Secret, tm{&f.CreatedAt}, tm{&f.UpdatedAt})
	return &f, err
}

// CreateVerifyFactor stores f; ErrConflict if its sid is taken.
func (db *DB) CreateVerifyFactor(ctx context.Context, f *twostep.VerifyFactor) error {
	_, err := db.exec(ctx, `INSERT INTO verify_factors (`+verifyFactorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.SID, f.ServiceSID, f.Identity, f.FriendlyName, f.Type, f.Status, f.Secret, us(f.CreatedAt), us(f.UpdatedAt))
	return wrap(err, "create verify factor")
}

// VerifyFactor returns the factor with sid, or ErrNotFound.
func (db *DB) VerifyFactor(ctx context.Context, sid string) (*twostep.VerifyFactor, error) {
	return one(db.row(ctx, `SELECT `+verifyFactorCols+` FROM verify_factors WHERE sid = ?`, sid), scanVerifyFactor, "verify factor")
}

// UpdateVerifyFactor writes the factor's status and update time.
func (db *DB) UpdateVerifyFactor(ctx context.Context, f *twostep.VerifyFactor) error {
	return db.execOne(ctx, "update verify factor", `UPDATE verify_factors SET status = ?, updated_at = ? WHERE sid = ?`,
		f.Status, us(f.UpdatedAt), f.SID)
}

// UseVerifyTOTPStep moves the factor's last accepted step forward, in one
// statement: of concurrent uses of one step, one wins (OTP-09).
func (db *DB) UseVerifyTOTPStep(ctx context.Context, sid string, step int64) (bool, error) {
	return db.execDid(ctx, "use verify totp step",
		`UPDATE verify_factors SET last_totp_step = ? WHERE sid = ? AND last_totp_step < ?`, step, sid, step)
}

// CreateVerifyChallenge stores c.
func (db *DB) CreateVerifyChallenge(ctx context.Context, c *twostep.VerifyChallenge) error {
	_, err := db.exec(ctx, `INSERT INTO verify_challenges (sid, factor_sid, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		c.SID, c.FactorSID, c.Status, us(c.CreatedAt), us(c.UpdatedAt))
	return wrap(err, "create verify challenge")
}
