// Sign in to osc-secrets-mcp through its OAuth authorization server with the
// official MCP TypeScript SDK's OAuth client (an `OAuthClientProvider` given
// to `StreamableHTTPClientTransport`), then call tools.
//
// tests/it/oauth_typescript.rs runs this against the built binary started
// with --oauth-issuer and the authorization server of
// tests/oauth/provider.mjs. The SDK does what a connector does: it is
// refused with 401, reads the protected resource metadata, discovers the
// authorization server, registers itself dynamically, and sends the person
// to the authorization URL with PKCE and the resource parameter. The
// "person" here follows that URL with plain HTTP requests and signs in on
// the provider's form as --login; the redirect to REDIRECT (never
// contacted) carries the code, which the transport's finishAuth exchanges
// for a JWT access token, as the SDK's own examples do.
//
// Step-up: the provider first allows the person only secrets:read. The
// client lists and reads; then the provider allows every scope (as an
// administrator granting a role), and a write is refused with 403
// insufficient_scope, which makes the SDK send the person to authorize
// again, asking for the scope the 403 named. Once that authorization is
// finished the call is made again, in the same session.
//
// Usage: node ts_client.mjs --sdk NODE_MODULES --url http://HOST:PORT/mcp
//          --provider ISSUER [--login alice] [--key user.oauth-typescript]
// (NODE_MODULES holds @modelcontextprotocol/sdk). Prints one JSON document
// on stdout. Access tokens are never printed; their signatures are listed
// under `signatures` so that the test can check that none of them appears
// in the server's log.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values: args } = parseArgs({
  options: {
    sdk: { type: 'string' },
    url: { type: 'string' },
    provider: { type: 'string' },
    login: { type: 'string', default: 'alice' },
    key: { type: 'string', default: 'user.oauth-typescript' },
  },
});
for (const name of ['sdk', 'url', 'provider']) {
  if (!args[name]) throw new Error(`--${name} is required`);
}

const esm = join(args.sdk, '@modelcontextprotocol', 'sdk', 'dist', 'esm');
const load = (path) => import(pathToFileURL(join(esm, path)).href);
const { Client } = await load('client/index.js');
const { StreamableHTTPClientTransport } = await load('client/streamableHttp.js');
const { UnauthorizedError } = await load('client/auth.js');

// Never contacted: the person's "browser" stops at the redirect to it.
const REDIRECT = 'http://127.0.0.1:9/callback';

/** The minimum of a browser's cookie jar the provider's pages need. */
class Cookies {
  #jar = new Map();

  take(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let gone = value === '';
      for (const attribute of attributes) {
        const [key, val = ''] = attribute.split('=');
        if (key.toLowerCase() === 'path') path = val;
        if (key.toLowerCase() === 'max-age' && Number(val) <= 0) gone = true;
        if (key.toLowerCase() === 'expires' && Date.parse(val) < Date.now()) gone = true;
      }
      const id = `${name};${path}`;
      if (gone) this.#jar.delete(id);
      else this.#jar.set(id, { name, value, path, origin: new URL(url).origin });
    }
  }

  header(url) {
    const { origin, pathname } = new URL(url);
    return [...this.#jar.values()]
      .filter((c) => c.origin === origin && pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

/** Follows an authorization URL as a browser would, signing in on the form. */
class Person {
  constructor(login) {
    this.login = login;
    this.cookies = new Cookies();
    this.code = undefined;
    this.state = undefined;
    this.authorizationUrls = [];
  }

  async #fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    const cookie = this.cookies.header(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.cookies.take(url, response);
    return response;
  }

  async authorize(url) {
    this.authorizationUrls.push(url);
    let location = url.href;
    let response = await this.#fetch(location);
    for (let hops = 0; hops < 20; hops++) {
      if (response.status === 302 || response.status === 303) {
        await response.body?.cancel();
        location = new URL(response.headers.get('location'), location).href;
        if (location.startsWith(REDIRECT)) {
          const query = new URL(location).searchParams;
          if (query.get('error')) {
            throw new Error(`the authorization server refused: ${query.get('error')} ${query.get('error_description')}`);
          }
          if (query.get('state') !== url.searchParams.get('state')) {
            throw new Error('the redirect does not carry the state of the authorization request');
          }
          this.code = query.get('code');
          return;
        }
        response = await this.#fetch(location);
        continue;
      }
      const text = await response.text();
      if (response.status === 200 && text.includes('<form')) {
        const action = text.match(/action="([^"]+)"/);
        if (!action) throw new Error(`a form without an action: ${text}`);
        location = new URL(action[1], location).href;
        response = await this.#fetch(location, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: this.login }).toString(),
        });
        continue;
      }
      throw new Error(`the authorization server answered ${response.status}: ${text.slice(0, 300)}`);
    }
    throw new Error('too many redirects at the authorization server');
  }

  /** The code the last authorization ended with, once. */
  takeCode() {
    if (!this.code) throw new Error('the SDK did not send the person to authorize');
    const code = this.code;
    this.code = undefined;
    return code;
  }
}

/** The SDK's OAuthClientProvider, keeping everything in memory for one run. */
class Memory {
  constructor(person) {
    this.person = person;
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.signatures = [];
    this.scopes = [];
  }

  get redirectUrl() {
    return REDIRECT;
  }

  get clientMetadata() {
    return {
      client_name: 'osc-secrets-mcp oauth test (TypeScript SDK)',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    return randomBytes(16).toString('hex');
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(information) {
    this.client = information;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens) {
    this.saved = tokens;
    this.signatures.push(tokens.access_token.split('.').pop());
    this.scopes.push(tokens.scope ?? null);
  }

  redirectToAuthorization(url) {
    return this.person.authorize(url);
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
}

async function allow(account, scope) {
  const answer = await fetch(`${args.provider}/test/allow`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ account, scope }),
  });
  if (!answer.ok) throw new Error(`POST /test/allow answered ${answer.status}`);
}

const describe = (error) => ({ error: error?.constructor?.name ?? 'Error', message: String(error?.message ?? error) });

const person = new Person(args.login);
const oauth = new Memory(person);
const report = { stepUps: 0 };

/** A fresh client on a fresh transport, connected: the first attempt is
 * refused (401) and sends the person to authorize, as in the SDK's examples. */
async function connect() {
  for (let attempt = 0; attempt < 2; attempt++) {
    const transport = new StreamableHTTPClientTransport(new URL(args.url), { authProvider: oauth });
    const client = new Client({ name: 'osc-secrets-mcp-oauth-test', version: '1.0.0' });
    try {
      await client.connect(transport);
      return { client, transport };
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      report.connectRefused = describe(error);
      await transport.finishAuth(person.takeCode());
    }
  }
  throw new Error('still unauthorized after signing in');
}

/** A tool call; refused for its scope, the SDK has sent the person to
 * authorize again: finish that, then call again in the same session. */
async function call(client, transport, name, toolArgs) {
  const result = async () => {
    const answer = await client.callTool({ name, arguments: toolArgs });
    const text = (answer.content ?? []).filter((c) => c.type === 'text').map((c) => c.text);
    return { isError: Boolean(answer.isError), text: text.join('\n') };
  };
  try {
    return await result();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    report.stepUps += 1;
    (report.refusedBeforeStepUp ??= []).push({ tool: name, ...describe(error) });
    await transport.finishAuth(person.takeCode());
    return await result();
  }
}

const toolNames = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();

await allow(args.login, 'secrets:read');
const { client, transport } = await connect();
const session = transport.sessionId;
try {
  report.toolsReadOnly = await toolNames(client);
  report.listReadOnly = await call(client, transport, 'list_tenant_secrets', {});
  await allow(args.login, 'secrets:read secrets:write secrets:delete');
  report.setAfterStepUp = await call(client, transport, 'set_tenant_secret', { key: args.key, generate: {} });
  report.toolsAfter = await toolNames(client);
  report.deleteKey = await call(client, transport, 'delete_tenant_secret', { key: args.key });
  // Every call after a step-up was made in the session opened first.
  report.sameSession = session !== undefined && transport.sessionId === session;
  await transport.terminateSession();
} finally {
  await client.close();
}

const query = (url) => Object.fromEntries([...url.searchParams.keys()].map((k) => [k, url.searchParams.getAll(k)]));
report.authorizations = person.authorizationUrls.length;
report.requested = person.authorizationUrls.map(query).map((q) => ({
  resource: q.resource ?? [],
  scope: q.scope ?? [],
  method: q.code_challenge_method ?? [],
  hasChallenge: (q.code_challenge ?? []).length === 1,
}));
report.grantedScopes = oauth.scopes;
report.clientRegistered = Boolean(oauth.client?.client_id);
// A public client (token_endpoint_auth_method none): its id is no secret.
report.clientId = oauth.client?.client_id ?? null;
report.signatures = oauth.signatures;
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
