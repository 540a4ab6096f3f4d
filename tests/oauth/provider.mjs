// A real OAuth 2.1 authorization server for the tests: the certified
// `oidc-provider` from npm, on an ephemeral loopback port, configured the
// way an operator would configure Keycloak or Auth0 for osc-secrets-mcp:
// dynamic client registration, authorization code with PKCE, resource
// indicators (RFC 8707), and JWT access tokens (RFC 9068, RS256) whose
// audience is the resource and whose scopes are secrets:read,
// secrets:write and secrets:delete.
//
// The sign-in pages are a minimal form of this script's own (a user name,
// no password): the tests drive them with plain HTTP requests. Consent is
// given at once, for what the test allows that person: POST
// /test/allow {"account": "...", "scope": "..."} changes it (by default
// every scope), as an administrator granting a role would. Every
// authorization asks for consent again, so a client that steps up gets
// what is allowed now.
//
// Usage: node provider.mjs   (NODE_PATH names the node_modules holding
// oidc-provider). Prints one JSON line, {"issuer": "http://127.0.0.1:PORT"},
// once it listens; ends with its stdin.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const where = require.resolve('oidc-provider', { paths: (process.env.NODE_PATH || '').split(':') });
const { default: ProviderClass } = await import(pathToFileURL(where).href);

const SCOPES = ['secrets:read', 'secrets:write', 'secrets:delete'];
const allowed = new Map();
const allowedFor = (account) => allowed.get(account) ?? SCOPES;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'rs-1', use: 'sig', alg: 'RS256' };

const provider = new ProviderClass(issuer, {
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', ...SCOPES],
  claims: { openid: ['sub'] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: SCOPES.join(' '),
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => true },
  // Only the grant of the consent just given: every authorization is
  // decided by what the person is allowed now.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId;
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600 },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const callback = provider.callback();

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, text) {
  res.writeHead(status, { 'content-type': type });
  res.end(text);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'wrong interaction');
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (action !== 'login') {
      return send(
        res,
        200,
        'text/html',
        `<!doctype html><title>Sign in</title><form method="post" action="/interaction/${uid}/login">` +
          '<label>User <input name="login" autofocus></label><button>Sign in</button></form>',
      );
    }
    const login = new URLSearchParams(await body(req)).get('login');
    if (!login) return send(res, 400, 'text/plain', 'login required');
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    const may = new Set(allowedFor(session.accountId));
    for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
      const granted = scopes.filter((s) => may.has(s));
      const refused = scopes.filter((s) => !may.has(s));
      if (granted.length) grant.addResourceScope(resource, granted.join(' '));
      if (refused.length) grant.rejectResourceScope(resource, refused.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 501, 'text/plain', `prompt ${prompt.name} not handled`);
}

server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], req.method === 'POST' ? match[2] : undefined);
    if (url.pathname === '/test/allow' && req.method === 'POST') {
      const { account, scope } = JSON.parse(await body(req));
      allowed.set(account, scope.split(' ').filter(Boolean));
      return send(res, 204, 'text/plain', '');
    }
    return callback(req, res);
  } catch (error) {
    console.error('interaction error', error);
    if (!res.headersSent) send(res, 500, 'text/plain', 'error');
  }
});

console.log(JSON.stringify({ issuer }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
