\set i random(1, 6000)
\set r random(1, 2000000000)
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO throttles (key) SELECT CAST('acct:' AS text) || account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex') AND account_id IS NOT NULL ON CONFLICT (key) DO NOTHING;
SELECT key, failures, hour_start, hour_failures, locked_until FROM throttles WHERE key = (SELECT CAST('acct:' AS text) || account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) FOR UPDATE;
SELECT c.*, a.* FROM challenges c JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = decode(md5('t' || :i),'hex') FOR NO KEY UPDATE OF c;
SELECT * FROM factors WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) ORDER BY created_at, seq FOR NO KEY UPDATE;
SELECT * FROM orgs WHERE id = (SELECT a.org_id FROM challenges c JOIN accounts a ON a.id = c.account_id WHERE c.token_hash = decode(md5('t' || :i),'hex'));
SELECT * FROM recovery_codes WHERE account_id = (SELECT account_id FROM challenges WHERE token_hash = decode(md5('t' || :i),'hex')) AND used_at IS NULL ORDER BY created_at, id;
\endpipeline
\startpipeline
WITH u1 AS (UPDATE challenges SET attempts = attempts + 1, consumed_at = :r WHERE id = 'c' || :i RETURNING 1),
 u2 AS (UPDATE factors SET last_totp_step = :r, last_used_at = :r WHERE id = 'f' || :i AND last_totp_step < :r + 1000000000000 RETURNING 1),
 s AS (INSERT INTO sessions VALUES ('s' || :r || '_' || :client_id || random(), decode(md5('s' || :r || random()),'hex'), 'a' || :i, :r, :r) RETURNING 1),
 d AS (INSERT INTO devices VALUES ('d' || :r || '_' || :client_id || random(), decode(md5('d' || :r || random()),'hex'), 'a' || :i, :r) RETURNING 1),
 u3 AS (UPDATE accounts SET last_sign_in_at = :r WHERE id = 'a' || :i RETURNING 1),
 ev AS (INSERT INTO audit_events (at, kind, account_id, org_id, detail) VALUES (:r, 'signin', 'a' || :i, 'o1', 'x') RETURNING id)
SELECT (SELECT count(*) FROM u1), (SELECT count(*) FROM u2), (SELECT count(*) FROM s), (SELECT count(*) FROM d), (SELECT count(*) FROM u3), (SELECT id FROM ev);
COMMIT;
\endpipeline
