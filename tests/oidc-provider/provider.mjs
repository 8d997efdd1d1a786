// A real OpenID Connect provider (npm `oidc-provider`) for Hale's tests, never for production.
//
//   node provider.mjs --keys DIR [--port N] [--redirect-uri URI]...
//
// Listens on 127.0.0.1 (port 0 picks a free one), signs with an RSA 2048 key generated at start,
// and writes that key to DIR so tests can mint hostile tokens with the provider's own key and kid:
//   key.pem         the signing key, PKCS#1 PEM
//   public.pem      its public half, SPKI PEM (what a key-confusion attack uses as an HMAC secret)
//   jwk.json        the signing key as a private JWK (kid, alg, use included)
//   kid             the signing key's kid
//   unpublished.pem another RSA key, PKCS#1 PEM, that the provider never publishes
// then prints one line, `ready <issuer>`, on stdout.
//
// Clients (secrets are fixed test values, known to the Rust harness):
//   hale-service     confidential, client_credentials; JWT access tokens for the resource
//                    https://hale.test/api with audience `hale` and SMART-style system scopes
//   hale-web         confidential (client_secret_basic), authorization code + PKCE
//   hale-web-public  public (no secret), authorization code + PKCE
// Sign-in goes through the development interactions: any account id logs in, with any password.
// GET /_test/stats answers how often discovery and the JWKS were fetched.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const RESOURCE = 'https://hale.test/api';
const AUDIENCE = 'hale';
const API_SCOPES = 'system/*.rs system/*.cruds system/Patient.rs system/Observation.rs';
const DEFAULT_REDIRECT_URI = 'http://127.0.0.1/oidc/callback';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    keys: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
  },
});
if (!values.keys) {
  console.error('usage: node provider.mjs --keys DIR [--port N] [--redirect-uri URI]...');
  process.exit(2);
}
const port = Number.parseInt(values.port, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('--port must be 0..65535');
  process.exit(2);
}
const redirectUris = values['redirect-uri']?.length ? values['redirect-uri'] : [DEFAULT_REDIRECT_URI];

const kid = `hale-test-${randomBytes(6).toString('hex')}`;
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const unpublished = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...signing.privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

mkdirSync(values.keys, { recursive: true });
const write = (name, text) => writeFileSync(join(values.keys, name), text, { mode: 0o600 });
write('key.pem', signing.privateKey.export({ type: 'pkcs1', format: 'pem' }));
write('public.pem', signing.publicKey.export({ type: 'spki', format: 'pem' }));
write('jwk.json', JSON.stringify(jwk));
write('kid', kid);
write('unpublished.pem', unpublished.privateKey.export({ type: 'pkcs1', format: 'pem' }));

function rolesOf(accountId) {
  return accountId.startsWith('admin') ? ['admin'] : ['clinician'];
}

const configuration = {
  clients: [
    {
      client_id: 'hale-service',
      client_secret: 'hale-service-test-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'hale-web',
      client_secret: 'hale-web-test-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: redirectUris,
    },
    {
      client_id: 'hale-web-public',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: redirectUris,
    },
  ],
  jwks: { keys: [jwk] },
  async findAccount(_ctx, accountId) {
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          name: `Test ${accountId}`,
          email: `${accountId}@hale.test`,
          email_verified: true,
          roles: rolesOf(accountId),
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'roles'],
  },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  // The ID token carries the scopes' claims, as most providers' do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, client) => (client.clientId === 'hale-service' ? RESOURCE : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: API_SCOPES,
          audience: AUDIENCE,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const stats = { discovery: 0, jwks: 0 };
const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  provider.use(async (ctx, next) => {
    if (ctx.path === '/_test/stats') {
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/.well-known/openid-configuration') stats.discovery += 1;
    if (ctx.path === '/jwks') stats.jwks += 1;
    await next();
  });
  server.on('request', provider.callback());
  process.stdout.write(`ready ${issuer}\n`);
});

// The harness kills the process; end cleanly on the usual signals too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
