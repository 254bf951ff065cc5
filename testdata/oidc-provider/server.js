// An organisation's identity provider for Twostep's SSO tests: panva's
// oidc-provider on a free loopback port, configured by a JSON file.
//
//   node server.js CONFIG.json
//
// CONFIG: {"host"?: "127.0.0.1", "port"?: 0, "issuer_host"?: "localhost",
//          "clients": [{"client_id","client_secret","redirect_uris":[…]}],
//          "accounts": [{"sub","email","email_verified","claims"?:{…},"amr"?:[…],"acr"?}],
//          "acr_values"?: […], "ttl"?: {"IdToken":3600,"AccessToken":600,"AuthorizationCode":60,…}}
//
// Once listening it prints one JSON line on stdout, {"issuer":"http://localhost:PORT"},
// and serves until stdin closes or it gets SIGTERM.
//
// Sign-in at the provider is a small form of its own (GET /interaction/UID), so a
// Go client with a cookie jar or a browser can drive it: POST
// /interaction/UID/login with `login` (an account's sub or e-mail) and, to
// override the account's amr for this one sign-in, `amr` (comma-separated; "-"
// for none) and `acr`. Consent is granted without a page (the client is the
// organisation's own application). POST /_admin/accounts with an account as JSON
// adds it or replaces the one with the same sub (e-mail changes at the
// provider).
import fs from 'node:fs';
import http from 'node:http';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = new Map((cfg.accounts || []).map((a) => [a.sub, a]));

function findByLogin(login) {
  if (accounts.has(login)) return accounts.get(login);
  for (const a of accounts.values()) if (a.email === login) return a;
  return undefined;
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(cfg.port || 0, cfg.host || '127.0.0.1', resolve));
  const { port } = server.address();
  const issuer = `http://${cfg.issuer_host || 'localhost'}:${port}`;

  // A key of this run's own: two providers in one test must not share the
  // library's development key, or a token of one would verify at the other.
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: `k${port}` };

  const provider = new Provider(issuer, {
    clients: (cfg.clients || []).map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
    })),
    jwks: { keys: [jwk] },
    claims: {
      // amr and acr with every ID token, as providers that do a second step say it.
      openid: ['sub', 'amr', 'acr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // The ID token carries the e-mail claims itself, as many providers' do.
    conformIdTokenClaims: false,
    acrValues: [...new Set([...(cfg.acr_values || []), ...(cfg.accounts || []).map((a) => a.acr).filter(Boolean)])],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600,
      ...(cfg.ttl || {}),
    },
    cookies: { keys: ['twostep-test-provider-cookie-key'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return { ...(a.claims || {}), sub: a.sub, email: a.email, email_verified: a.email_verified };
        },
      };
    },
    // The organisation's own application: consent without a page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const found = await ctx.oidc.provider.Grant.find(grantId);
        if (found) return found;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  provider.proxy = false;
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (req.method === 'POST' && url.pathname === '/_admin/accounts') {
        const a = JSON.parse(await readBody(req));
        accounts.set(a.sub, a);
        return send(res, 204, 'text/plain', '');
      }
      const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
      if (!m) return callback(req, res);
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== m[1]) return send(res, 400, 'text/plain', 'interaction mismatch\n');
      if (req.method === 'GET' && !m[2]) {
        return send(res, 200, 'text/html; charset=utf-8', `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><main><h1>Sign in at the test provider</h1>
<form method="post" action="/interaction/${escapeHTML(details.uid)}/login">
<label for="login">Account (sub or e-mail)</label> <input id="login" name="login" autocomplete="username">
<label for="amr">amr (comma-separated, optional)</label> <input id="amr" name="amr">
<button type="submit">Sign in</button>
</form></main></body></html>
`);
      }
      if (req.method === 'POST' && m[2]) {
        const form = new URLSearchParams(await readBody(req));
        const a = findByLogin(form.get('login') || '');
        if (!a) return send(res, 400, 'text/plain', 'no such account at the test provider\n');
        let amr = a.amr;
        if (form.get('amr')) amr = form.get('amr') === '-' ? undefined : form.get('amr').split(',');
        const acr = form.get('acr') || a.acr;
        const login = { accountId: a.sub, remember: false };
        if (amr && amr.length) login.amr = amr;
        if (acr) login.acr = acr;
        return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
      }
      return send(res, 405, 'text/plain', 'method not allowed\n');
    } catch (err) {
      process.stderr.write(`test provider: ${err.stack || err}\n`);
      if (!res.headersSent) send(res, 500, 'text/plain', `${err.message}\n`);
    }
  });

  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main().catch((err) => {
  process.stderr.write(`test provider: ${err.stack || err}\n`);
  process.exit(1);
});
