package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"

	"github.com/twostep/twostep/internal/twostep"
)

// CheapArgon2 are argon2id parameters for load-test accounts only: a sign-in
// with them measures Twostep, not the password hash. The parameters live in
// each hash, so the server's own defaults stay as they are.
var CheapArgon2 = twostep.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// Seeder writes load-test rows; *twostep.Service is one.
type Seeder interface {
	CreateLoadOrg(ctx context.Context, name, slug string) (*twostep.Org, error)
	CreateLoadAccounts(ctx context.Context, org *twostep.Org, accts []twostep.LoadAccount, p twostep.Argon2Params) error
}

// batchSize is how many accounts one transaction writes: large enough that a
// million accounts take minutes, small enough that a batch does not hold the
// writer for long.
const batchSize = 500

// secretSize is the length of an authenticator seed: 160 bits, as RFC 4226
// recommends and as the server makes them.
const secretSize = 20

// slugSuffix encodes the random part of the organisation's slug in the
// characters a slug may hold.
var slugSuffix = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Prepare creates a new organisation named orgName (its slug gets a random
// suffix, so that each run makes a new one) with n accounts, each with a
// password hashed with p and an active authenticator app, and returns them.
// It writes in batches, each all or nothing; on an error the batches written
// before stay. progress, if set, hears how many accounts are done after each.
func Prepare(ctx context.Context, s Seeder, orgName string, n int, p twostep.Argon2Params, progress func(done int)) ([]twostep.LoadAccount, error) {
	if n < 1 {
		return nil, fmt.Errorf("loadgen: %d accounts: must be 1 or more", n)
	}
	suffix := make([]byte, 4) // 30 random bits in the slug
	rand.Read(suffix)
	org, err := s.CreateLoadOrg(ctx, orgName, twostep.Slugify(orgName)+"-"+slugSuffix.EncodeToString(suffix)[:6])
	if err != nil {
		return nil, err
	}
	out := make([]twostep.LoadAccount, 0, n)
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		batch := make([]twostep.LoadAccount, 0, end-start)
		for i := start; i < end; i++ {
			la := twostep.LoadAccount{Email: fmt.Sprintf("load%07d@%s.invalid", i, org.Slug),
				Password: fmt.Sprintf("load-password-%07d", i), Secret: make([]byte, secretSize)}
			rand.Read(la.Secret)
			batch = append(batch, la)
		}
		if err := s.CreateLoadAccounts(ctx, org, batch, p); err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if progress != nil {
			progress(end)
		}
	}
	return out, nil
}
