// OCI push of the rendered-config scratch image against real Debian
// `docker-registry` processes on loopback, started and stopped by this file
// (independent of the local control plane): anonymous over http, htpasswd
// Basic auth, bearer-token auth (docker-registry's `auth: token` with a token
// service served here over node:http, tokens signed with a self-made key), and
// TLS with a self-made CA. Needs: docker-registry, openssl, htpasswd (apache2-utils).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RegistryClient, RegistryError, type RegistryClientOptions } from '../../src/registry/client.ts';
import { buildScratchImage, CONFIG_HASH_LABEL } from '../../src/registry/scratch-image.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

const USER = 'pusher';
const PASSWORD = 'correct-horse-battery-staple';

function machineConfig(name: string, motd: string) {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name },
    spec: {
      config: {
        ignition: { version: '3.2.0' },
        storage: { files: [{ path: '/etc/motd', mode: 420, contents: { source: `data:,${encodeURIComponent(motd)}` } }] },
      },
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

interface RunningRegistry {
  host: string;
  stop: () => Promise<void>;
  log: () => string;
}

async function startRegistry(dir: string, name: string, extraYaml: string, scheme: 'http' | 'https', ca?: string, deletes = false): Promise<RunningRegistry> {
  const port = await freePort();
  const root = join(dir, `${name}-data`);
  const cfg = join(dir, `${name}.yml`);
  writeFileSync(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${root}`,
      ...(deletes ? ['  delete:', '    enabled: true'] : []),
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomUUID()}`,
      extraYaml,
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const host = `127.0.0.1:${port}`;
  // Wait until /v2/ answers (any HTTP status means the server is up).
  const probe = new RegistryClient({ registry: host, insecure: scheme === 'http', caBundlePem: ca, timeoutMs: 2000 });
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`docker-registry ${name} exited: ${out}`);
      try {
        await probe.ping();
        break;
      } catch (e) {
        if (e instanceof RegistryError && (e.reason === 'Unauthorized' || e.reason === 'BadResponse')) break;
        if (i > 200) throw new Error(`docker-registry ${name} did not come up: ${String(e)}\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    probe.close();
  }
  return {
    host,
    log: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

let dir = '';
const registries: RunningRegistry[] = [];
const servers: http.Server[] = [];
let plain: RunningRegistry;
let basic: RunningRegistry;
let token: RunningRegistry;
let secure: RunningRegistry;
let deletable: RunningRegistry;
let caPem = '';
let tokenRequests = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'registry-push-'));

  // A self-signed certificate for 127.0.0.1: the TLS registry's serving cert
  // and CA, and the key that signs the bearer tokens.
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  caPem = readFileSync(cert, 'utf8');
  const keyPem = readFileSync(key, 'utf8');
  const certDer = new X509Certificate(caPem).raw;

  // htpasswd needs bcrypt entries.
  let htpasswdLine: string;
  try {
    htpasswdLine = execFileSync('htpasswd', ['-Bbn', USER, PASSWORD], { encoding: 'utf8' }).trim();
  } catch (e) {
    throw new Error(`htpasswd (Debian package apache2-utils) is needed for the Basic-auth registry: ${String(e)}`);
  }
  const htpasswdFile = join(dir, 'htpasswd');
  writeFileSync(htpasswdFile, `${htpasswdLine}\n`);

  // The token service: checks Basic credentials, grants the requested scopes
  // with an RS256 JWT that carries the signing certificate in x5c.
  const tokenServer = http.createServer((req, res) => {
    tokenRequests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    if (auth !== `Basic ${b64(`${USER}:${PASSWORD}`)}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      return [{ type, name: rest.join(':'), actions: actions.split(',') }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: 'test-issuer', sub: USER, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(keyPem);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${signingInput}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  servers.push(tokenServer);
  const tokenPort = (tokenServer.address() as net.AddressInfo).port;

  plain = await startRegistry(dir, 'plain', '', 'http');
  registries.push(plain);
  // relativeurls: this one answers with relative Location headers.
  basic = await startRegistry(dir, 'basic', ['  relativeurls: true', 'auth:', '  htpasswd:', '    realm: test-realm', `    path: ${htpasswdFile}`].join('\n'), 'http');
  registries.push(basic);
  token = await startRegistry(
    dir,
    'token',
    ['auth:', '  token:', `    realm: http://127.0.0.1:${tokenPort}/token`, '    service: test-registry', '    issuer: test-issuer', `    rootcertbundle: ${cert}`].join('\n'),
    'http',
  );
  registries.push(token);
  secure = await startRegistry(dir, 'secure', ['  tls:', `    certificate: ${cert}`, `    key: ${key}`].join('\n'), 'https', caPem);
  registries.push(secure);
  deletable = await startRegistry(dir, 'deletable', '', 'http', undefined, true);
  registries.push(deletable);
});

afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function withClient<T>(opts: RegistryClientOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  const c = new RegistryClient(opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

async function expectRegistryError(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryError);
    return e as RegistryError;
  }
  throw new Error('expected a RegistryError, the call succeeded');
}

const REPO = 'openshift-machine-config-operator/worker-rendered-config';

describe('pushing the rendered-config scratch image (anonymous, http)', () => {
  it('pushes once, then finds everything present; the digest is stable', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      const img = buildScratchImage({ name: 'rendered-worker-1', machineConfig: machineConfig('rendered-worker-1', 'one') });
      const first = await c.pushImage(REPO, img, ['rendered-worker-1', 'latest']);
      expect(first).toEqual({ digest: img.manifestDigest, pushed: true, bytes: img.config.length + img.layer.length + 2 * img.manifest.length });

      // The same config, rebuilt from a fresh copy: same digest, nothing uploaded.
      const again = buildScratchImage({ name: 'rendered-worker-1', machineConfig: machineConfig('rendered-worker-1', 'one') });
      expect(again.manifestDigest).toBe(img.manifestDigest);
      const second = await c.pushImage(REPO, again, ['rendered-worker-1', 'latest']);
      expect(second).toEqual({ digest: img.manifestDigest, pushed: false, bytes: 0 });

      expect(await c.headManifest(REPO, 'rendered-worker-1')).toBe(img.manifestDigest);
      expect(await c.manifestExists(REPO, img.manifestDigest)).toBe(true);
      expect(await c.blobExists(REPO, img.layerDigest)).toBe(true);
    });
  });

  it('a different config gives a different digest, and moves latest', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      const one = buildScratchImage({ name: 'rendered-worker-1', machineConfig: machineConfig('rendered-worker-1', 'one') });
      const two = buildScratchImage({ name: 'rendered-worker-2', machineConfig: machineConfig('rendered-worker-2', 'two') });
      expect(two.manifestDigest).not.toBe(one.manifestDigest);
      await c.pushImage(REPO, one, ['rendered-worker-1', 'latest']);
      const r = await c.pushImage(REPO, two, ['rendered-worker-2', 'latest']);
      expect(r.pushed).toBe(true);
      expect(r.digest).toBe(two.manifestDigest);
      expect(await c.headManifest(REPO, 'latest')).toBe(two.manifestDigest);
      expect(await c.headManifest(REPO, 'rendered-worker-1')).toBe(one.manifestDigest);
    });
  });

  it('serves back the manifest and blobs with matching sha256, and the files inside', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      const mc = machineConfig('rendered-worker-3', 'three');
      const img = buildScratchImage({ name: 'rendered-worker-3', machineConfig: mc });
      await c.pushImage(REPO, img); // by digest only
      const m = await c.getManifest(REPO, img.manifestDigest);
      expect(m.digest).toBe(img.manifestDigest);
      expect(sha(m.body)).toBe(img.manifestDigest);
      expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      const manifest = JSON.parse(m.body.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
      const config = await c.getBlob(REPO, manifest.config.digest);
      expect(sha(config)).toBe(img.configDigest);
      // The label is the content hash (the rendered name changes at the hand-off, the content does not).
      expect(JSON.parse(config.toString('utf8')).config.Labels).toEqual({ [CONFIG_HASH_LABEL]: img.diffId.slice('sha256:'.length) });
      const layer = await c.getBlob(REPO, manifest.layers[0]!.digest);
      expect(sha(layer)).toBe(img.layerDigest);
      const tar = gunzipSync(layer);
      expect(tar.includes(Buffer.from('"contents":{"source":"data:,three"}'))).toBe(true);
    });
  });

  it('this registry sends absolute upload Locations (so the absolute form is exercised)', async () => {
    const res = await fetch(`http://${plain.host}/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(new RegExp(`^http://${plain.host.replace(/\./g, '\\.')}/v2/`));
  });

  it('reports a missing manifest as NotFound', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      expect(await c.manifestExists(REPO, 'no-such-tag')).toBe(false);
      const e = await expectRegistryError(c.getManifest(REPO, 'no-such-tag'));
      expect(e.reason).toBe('NotFound');
      const e2 = await expectRegistryError(c.getBlob(REPO, `sha256:${'0'.repeat(64)}`));
      expect(e2.reason).toBe('NotFound');
    });
  });

  it('skopeo reads what was pushed (an independent client)', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      const img = buildScratchImage({ name: 'rendered-worker-4', machineConfig: machineConfig('rendered-worker-4', 'four') });
      await c.pushImage(REPO, img, ['rendered-worker-4']);
    });
    const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${plain.host}/${REPO}:rendered-worker-4`], { encoding: 'utf8' });
    const info = JSON.parse(out) as { Digest: string; Labels: Record<string, string>; Architecture: string; Os: string };
    const img = buildScratchImage({ name: 'rendered-worker-4', machineConfig: machineConfig('rendered-worker-4', 'four') });
    expect(info.Digest).toBe(img.manifestDigest);
    expect(info.Labels).toEqual({ [CONFIG_HASH_LABEL]: img.diffId.slice('sha256:'.length) });
    expect([info.Os, info.Architecture]).toEqual(['linux', 'amd64']);
  });
});

describe('Basic auth (htpasswd)', () => {
  const img = buildScratchImage({ name: 'rendered-worker-b', machineConfig: machineConfig('rendered-worker-b', 'basic') });

  it('pushes with credentials from a dockerconfigjson (auth field)', async () => {
    const dockerConfigJson = JSON.stringify({ auths: { [basic.host]: { auth: b64(`${USER}:${PASSWORD}`) } } });
    await withClient({ registry: basic.host, insecure: true, dockerConfigJson }, async (c) => {
      expect(c.hasCredentials).toBe(true);
      const r = await c.pushImage(REPO, img, ['rendered-worker-b']);
      expect(r.pushed).toBe(true);
      expect((await c.pushImage(REPO, img, ['rendered-worker-b'])).pushed).toBe(false);
    });
  });

  it('this registry sends relative upload Locations (so the relative form is exercised)', async () => {
    const res = await fetch(`http://${basic.host}/v2/${REPO}/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: `Basic ${b64(`${USER}:${PASSWORD}`)}` },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\//);
  });

  it('pushes with username/password entries too', async () => {
    const dockerConfigJson = { auths: { [`http://${basic.host}`]: { username: USER, password: PASSWORD } } };
    await withClient({ registry: basic.host, insecure: true, dockerConfigJson }, async (c) => {
      expect(await c.headManifest(REPO, 'rendered-worker-b')).toBe(img.manifestDigest);
    });
  });

  it('fails with Unauthorized without credentials', async () => {
    await withClient({ registry: basic.host, insecure: true }, async (c) => {
      const e = await expectRegistryError(c.pushImage(REPO, img, ['x']));
      expect(e.reason).toBe('Unauthorized');
      expect(e.status).toBe(401);
      expect(e.message).toContain(basic.host);
      expect(e.message).toMatch(/push secret/);
    });
  });

  it('fails with Unauthorized with a wrong password, never echoing it', async () => {
    const wrong = 'not-the-password-42';
    const dockerConfigJson = JSON.stringify({ auths: { [basic.host]: { auth: b64(`${USER}:${wrong}`) } } });
    await withClient({ registry: basic.host, insecure: true, dockerConfigJson }, async (c) => {
      const e = await expectRegistryError(c.pushImage(REPO, img, ['x']));
      expect(e.reason).toBe('Unauthorized');
      expect(e.message).toMatch(/rejected/);
      for (const s of [wrong, b64(`${USER}:${wrong}`)]) expect(`${e.message} ${String(e.stack)}`).not.toContain(s);
    });
  });
});

describe('bearer token auth (docker-registry auth: token)', () => {
  const img = buildScratchImage({ name: 'rendered-worker-t', machineConfig: machineConfig('rendered-worker-t', 'token') });

  it('follows the challenge, fetches a token with Basic credentials, and pushes', async () => {
    const before = tokenRequests;
    const dockerConfigJson = JSON.stringify({ auths: { [token.host]: { auth: b64(`${USER}:${PASSWORD}`) } } });
    await withClient({ registry: token.host, insecure: true, dockerConfigJson }, async (c) => {
      const r = await c.pushImage(REPO, img, ['rendered-worker-t']);
      expect(r).toMatchObject({ digest: img.manifestDigest, pushed: true });
      const again = await c.pushImage(REPO, img, ['rendered-worker-t']);
      expect(again.pushed).toBe(false);
      const m = await c.getManifest(REPO, 'rendered-worker-t');
      expect(m.digest).toBe(img.manifestDigest);
    });
    expect(tokenRequests).toBeGreaterThan(before);
  });

  it('fails with Unauthorized when the token service refuses the credentials', async () => {
    const dockerConfigJson = JSON.stringify({ auths: { [token.host]: { username: USER, password: 'wrong' } } });
    await withClient({ registry: token.host, insecure: true, dockerConfigJson }, async (c) => {
      const e = await expectRegistryError(c.pushImage(REPO, img, ['x']));
      expect(e.reason).toBe('Unauthorized');
      expect(e.message).toMatch(/token service/);
    });
  });

  it('fails with Unauthorized without credentials', async () => {
    await withClient({ registry: token.host, insecure: true }, async (c) => {
      const e = await expectRegistryError(c.manifestExists(REPO, 'rendered-worker-t'));
      expect(e.reason).toBe('Unauthorized');
    });
  });
});

describe('TLS with a CA bundle', () => {
  const img = buildScratchImage({ name: 'rendered-worker-s', machineConfig: machineConfig('rendered-worker-s', 'tls') });

  it('pushes over https when the CA bundle holds the registry CA', async () => {
    await withClient({ registry: secure.host, caBundlePem: caPem }, async (c) => {
      const r = await c.pushImage(REPO, img, ['rendered-worker-s']);
      expect(r.pushed).toBe(true);
      expect(sha((await c.getManifest(REPO, 'rendered-worker-s')).body)).toBe(img.manifestDigest);
    });
  });

  it('fails with TLS without the CA bundle', async () => {
    await withClient({ registry: secure.host }, async (c) => {
      const e = await expectRegistryError(c.manifestExists(REPO, 'rendered-worker-s'));
      expect(e.reason).toBe('TLS');
      expect(e.message).toMatch(/CA bundle/);
    });
  });

  it('fails with TLS when https is spoken to a plain-http registry', async () => {
    await withClient({ registry: plain.host }, async (c) => {
      const e = await expectRegistryError(c.manifestExists(REPO, 'latest'));
      expect(e.reason).toBe('TLS');
      expect(e.message).toMatch(/plain http/);
    });
  });

  it('fails with BadResponse when plain http is spoken to an https registry', async () => {
    await withClient({ registry: secure.host, insecure: true }, async (c) => {
      const e = await expectRegistryError(c.manifestExists(REPO, 'latest'));
      expect(e.reason).toBe('BadResponse');
      expect(e.message).toMatch(/https, do not mark it insecure/);
    });
  });
});

describe('deleting a manifest (retention, for an external registry)', () => {
  const img = () => buildScratchImage({ name: 'rendered-worker-9', machineConfig: machineConfig('rendered-worker-9', 'to be pruned') });
  it('a registry that allows deletes: deleted, then gone; the manifest is no longer served', async () => {
    await withClient({ registry: deletable.host, insecure: true }, async (c) => {
      const i = img();
      await c.pushImage(REPO, i, ['sha256-x']);
      expect(await c.manifestExists(REPO, i.manifestDigest)).toBe(true);
      expect(await c.deleteManifest(REPO, i.manifestDigest)).toBe('deleted');
      expect(await c.manifestExists(REPO, i.manifestDigest)).toBe(false);
      expect(await c.deleteManifest(REPO, i.manifestDigest)).toBe('gone');
    });
  });
  it('a registry that does not allow deletes (the default of docker-registry): unsupported, the manifest stays', async () => {
    await withClient({ registry: plain.host, insecure: true }, async (c) => {
      const i = img();
      await c.pushImage(REPO, i, ['sha256-x']);
      expect(await c.deleteManifest(REPO, i.manifestDigest)).toBe('unsupported');
      expect(await c.manifestExists(REPO, i.manifestDigest)).toBe(true);
    });
  });
  it('with bearer tokens: asks for the delete scope (the registry answers past auth: unsupported, not 401)', async () => {
    await withClient({ registry: token.host, insecure: true, dockerConfigJson: { auths: { [token.host]: { auth: b64(`${USER}:${PASSWORD}`) } } } }, async (c) => {
      const i = img();
      await c.pushImage(REPO, i, ['sha256-x']);
      expect(await c.deleteManifest(REPO, i.manifestDigest)).toBe('unsupported');
    });
  });
  it('refuses a reference that is not a digest', async () => {
    await withClient({ registry: deletable.host, insecure: true }, async (c) => {
      await expect(c.deleteManifest(REPO, 'latest')).rejects.toThrow();
    });
  });
});

describe('an unreachable registry', () => {
  it('fails with Unreachable on a closed loopback port', async () => {
    const port = await freePort();
    await withClient({ registry: `127.0.0.1:${port}`, insecure: true }, async (c) => {
      const img = buildScratchImage({ name: 'rendered-worker-u', machineConfig: machineConfig('rendered-worker-u', 'u') });
      const e = await expectRegistryError(c.pushImage(REPO, img, ['x']));
      expect(e.reason).toBe('Unreachable');
      expect(e.message).toContain(`127.0.0.1:${port}`);
      expect(e.message).toMatch(/ECONNREFUSED/);
    });
  });

  it('fails with Unreachable when the registry does not answer in time', async () => {
    const silent = net.createServer(() => {
      /* accept and say nothing */
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await withClient({ registry: `127.0.0.1:${port}`, insecure: true, timeoutMs: 300 }, async (c) => {
        const e = await expectRegistryError(c.manifestExists(REPO, 'latest'));
        expect(e.reason).toBe('Unreachable');
        expect(e.message).toMatch(/ETIMEDOUT/);
      });
    } finally {
      silent.close();
    }
  });
});
