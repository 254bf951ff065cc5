// Package twostep is the domain of Twostep: accounts, organisations, second-step
// factors, sign-in challenges, sessions, recovery codes and the rules that bind them.
//
// Threat model. An attacker may know or guess a member's e-mail and password, may
// replay codes they observed, may send many requests in parallel from many
// addresses, and may read a copy of the database. Against these the package holds
// that: a sign-in token opens only the next step; every code, token, recovery code
// and TOTP time step is consumed by one atomic store operation, so parallel
// submissions give one success; failures are counted in the store before any
// comparison, per sign-in, per account, per submitted e-mail and per client
// address, and a lock answers the same whether the code was right or wrong; codes
// and tokens are kept only as hashes, recovery codes as keyed hashes, and TOTP
// seeds sealed with AES-256-GCM bound to their row; an unknown e-mail and a wrong
// password cost the same time and give the same answer. The package does no I/O
// of its own: storage, delivery, time and randomness are handed to New.
package twostep
