\set i random(1, 6000)
\set r random(1, 2000000000)
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO throttles (key) SELECT CAST('acct:' AS text) || account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex') AND account_id IS NOT NULL ON CONFLICT (key) DO NOTHING;
SELECT key, failures, hour_start, hour_failures, locked_until FROM throttles WHERE key = (SELECT CAST('acct:' AS text) || account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) FOR UPDATE;
UPDATE challenges c SET attempts = c.attempts + 1 FROM accounts a WHERE a.id = c.account_id AND c.token_hash = decode(md5('t' || :i),'hex') RETURNING c.*, a.*;
SELECT * FROM factors WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) ORDER BY created_at, seq FOR NO KEY UPDATE;
SELECT * FROM orgs WHERE id = (SELECT a.org_id FROM challenges c JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = decode(md5('t' || :i),'hex'));
SELECT * FROM recovery_codes WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) AND used_at IS NULL ORDER BY created_at, id;
\endpipeline
\startpipeline
UPDATE factors SET last_totp_step = :r, last_used_at = :r WHERE id = 'f' || :i AND last_totp_step < :r + 1000000000000;
UPDATE challenges SET consumed_at = :r WHERE id = 'c' || :i;
INSERT INTO sessions VALUES ('s' || :r || '_' || :client_id || random(), decode(md5('s' || :r || random()),'hex'), 'a' || :i, :r, :r);
INSERT INTO devices VALUES ('d' || :r || '_' || :client_id || random(), decode(md5('d' || :r || random()),'hex'), 'a' || :i, :r);
UPDATE accounts SET last_sign_in_at = :r WHERE id = 'a' || :i;
INSERT INTO audit_events (at, kind, account_id, org_id, detail) VALUES (:r, 'signin', 'a' || :i, 'o1', 'x') RETURNING id;
COMMIT;
\endpipeline
