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
COMMIT;
\endpipeline
