// Secrets are never logged: objects carrying passwords, tokens, registry auth
// and Secret data go through createLogger (src/util/log.ts) into a captured
// stream, and none of the secret values may appear in what was written.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/util/log.ts';

function captured(level = 'trace') {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  // pino writes synchronously to a plain stream.
  const log = createLogger(level, stream);
  return { log, text: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

// Every secret value is distinctive, so a substring search finds any leak,
// whatever the encoding around it.
const S = (n: string) => `S3CR3T-${n}-x9`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

const dockerConfig = { auths: { 'registry.example:5000': { auth: b64(`robot:${S('docker-pw')}`), username: 'robot', password: S('docker-pw2'), identitytoken: S('idtoken') } } };
const dockerConfigJson = JSON.stringify(dockerConfig);

const secretObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'kubernetes.io/dockerconfigjson',
  metadata: { name: 'push', namespace: 'ns' },
  data: { '.dockerconfigjson': b64(dockerConfigJson) },
  stringData: { '.dockerconfigjson': S('stringdata-dcj'), password: S('stringdata-pw'), token: S('stringdata-token') },
};

const cases: [string, Record<string, unknown>, string[]][] = [
  ['top-level credential fields', { password: S('pw'), token: S('tok'), auth: S('auth'), authorization: `Bearer ${S('authz')}`, secret: S('secret') }, [S('pw'), S('tok'), S('auth'), S('authz'), S('secret')]],
  ['docker config JSON as text', { dockerConfigJson, '.dockerconfigjson': dockerConfigJson }, [S('docker-pw2'), S('idtoken'), b64(`robot:${S('docker-pw')}`)]],
  ['docker config parsed, nested', { registry: 'registry.example:5000', config: dockerConfig }, [S('docker-pw2'), S('idtoken'), b64(`robot:${S('docker-pw')}`)]],
  ['a Secret object as read from the API', { obj: secretObject }, [S('stringdata-dcj'), S('stringdata-pw'), S('stringdata-token'), b64(dockerConfigJson)]],
  ['a Secret object, deeper', { event: { object: secretObject } }, [S('stringdata-dcj'), S('stringdata-pw'), S('stringdata-token'), b64(dockerConfigJson)]],
  ['HTTP request headers at any depth', { err: { request: { headers: { authorization: `Bearer ${S('req-authz')}`, Authorization: `Basic ${S('req-basic')}`, cookie: S('cookie') } } } }, [S('req-authz'), S('req-basic'), S('cookie')]],
  ['a response header asking for a token', { res: { headers: { 'www-authenticate': 'Bearer realm="x"', 'proxy-authorization': S('proxy') } } }, [S('proxy')]],
  ['a kubeconfig user', { kubeconfig: { users: [{ name: 'sa', user: { token: S('sa-token'), 'client-key-data': S('client-key'), password: S('user-pw') } }] } }, [S('sa-token'), S('client-key'), S('user-pw')]],
  ['token variants', { accessToken: S('access'), refresh_token: S('refresh'), bearerToken: S('bearer'), apiKey: S('apikey'), privateKey: S('pk') }, [S('access'), S('refresh'), S('bearer'), S('apikey'), S('pk')]],
  ['registry credentials object', { credentials: { username: 'robot', password: S('cred-pw') }, basicAuth: { user: 'u', pass: S('basic-pass') } }, [S('cred-pw'), S('basic-pass')]],
];

describe('createLogger redaction', () => {
  it.each(cases)('%s: no secret value is written', (_name, fields, secrets) => {
    const c = captured();
    c.log.info({ pool: 'worker', ...fields }, 'an event with credentials nearby');
    const out = c.text();
    // The line was written, with its non-secret parts.
    expect(out).toContain('an event with credentials nearby');
    expect(out).toContain('"pool":"worker"');
    for (const s of secrets) expect(out, `leaked ${s}`).not.toContain(s);
    expect(out).toContain('[REDACTED]');
  });

  it('child logger bindings are redacted too', () => {
    const c = captured();
    c.log.child({ pool: 'worker', token: S('child-token'), registry: { password: S('child-pw') } }).info('from a child');
    const out = c.text();
    expect(out).toContain('from a child');
    expect(out).not.toContain(S('child-token'));
    expect(out).not.toContain(S('child-pw'));
  });

  it('keeps the fields an admin needs (pool, image digests, build names, errors)', () => {
    const c = captured();
    const image = 'registry.example:5000/ns/worker-mco-content@sha256:' + 'a'.repeat(64);
    c.log.warn({ pool: 'worker', build: 'worker-build-mco-content-0123456789-1', image, err: 'HTTP 403: forbidden', renderedConfig: 'rendered-worker-1' }, 'reconcile reported a problem');
    const [line] = c.lines();
    expect(line).toMatchObject({ level: 'warn', pool: 'worker', build: 'worker-build-mco-content-0123456789-1', image, err: 'HTTP 403: forbidden', renderedConfig: 'rendered-worker-1', msg: 'reconcile reported a problem' });
    expect(c.text()).not.toContain('[REDACTED]');
  });

  it('does not change the object that was logged', () => {
    const c = captured();
    const obj = { pool: 'worker', config: { auths: { r: { auth: S('keep') } } } };
    c.log.info(obj, 'x');
    expect(obj.config.auths.r.auth).toBe(S('keep'));
    expect(c.text()).not.toContain(S('keep'));
  });

  it('an Error with a credential-bearing field is redacted, its message kept', () => {
    const c = captured();
    const err = Object.assign(new Error('push failed: 401 Unauthorized'), { headers: { authorization: `Bearer ${S('err-authz')}` }, token: S('err-token') });
    c.log.error({ pool: 'worker', err }, 'push failed');
    const out = c.text();
    expect(out).toContain('push failed: 401 Unauthorized');
    expect(out).not.toContain(S('err-authz'));
    expect(out).not.toContain(S('err-token'));
  });
});
