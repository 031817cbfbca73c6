// A small OCI distribution API client (push and fetch of manifests and blobs),
// on node:http / node:https so that a custom CA bundle, timeouts and TLS errors
// are under our control without an extra dependency.
//
// Auth: anonymous; Basic from a docker config JSON (a push secret); and the
// bearer-token challenge (401 + `WWW-Authenticate: Bearer realm=..`): the token
// is fetched from the realm, with Basic credentials when there are any, and the
// request is retried once. Credentials are kept in private fields and never
// appear in an error message.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isDigest, parseImageRef } from '../plan/imageref.ts';
import { basicAuthHeader, credentialsFromDockerConfig, DockerConfigError, parseWwwAuthenticate, type AuthChallenge, type BasicCredentials } from './auth.ts';

export type RegistryErrorReason = 'Unreachable' | 'Unauthorized' | 'NotFound' | 'BadResponse' | 'TLS' | 'InvalidConfig';

export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly reason: RegistryErrorReason;
  readonly registry: string;
  readonly repository: string | undefined;
  readonly status: number | undefined;
  constructor(reason: RegistryErrorReason, registry: string, message: string, opts: { repository?: string; status?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.reason = reason;
    this.registry = registry;
    this.repository = opts.repository;
    this.status = opts.status;
  }
}

export interface RegistryClientOptions {
  /** `host[:port]` of the registry, e.g. `image-registry.openshift-image-registry.svc:5000`. */
  registry: string;
  /** Plain http instead of https (for a loopback registry). Default false. */
  insecure?: boolean;
  /** Extra CA certificates (PEM) trusted for https, in addition to Node's root store. Default none. */
  caBundlePem?: string;
  /** Content of a kubernetes.io/dockerconfigjson (or dockercfg) Secret. Default: anonymous. */
  dockerConfigJson?: string | object;
  /**
   * A ServiceAccount token for the integrated registry's bearer flow: sent as
   * Basic `unused:<token>` to the registry's own token realm (`/openshift/token`
   * on the registry's origin) and nowhere else. Used when the docker config has
   * no entry for the registry.
   */
  serviceAccountToken?: string;
  /** Deadline of one HTTP request, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Largest response body accepted, in bytes. Default 64 MiB. */
  maxResponseBytes?: number;
  /** User-Agent header. Default `layered-build-controller`. */
  userAgent?: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** What pushImage needs; a ScratchImage fits. */
export interface PushableImage {
  manifest: Buffer;
  manifestDigest: string;
  manifestMediaType?: string;
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
}

export interface PushResult {
  digest: string;
  /** True when anything (a blob or a manifest) was uploaded. */
  pushed: boolean;
  /** Bytes actually uploaded (blobs and manifests). */
  bytes: number;
}

export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Op {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
  repository?: string;
  actions: 'pull' | 'pull,push' | 'delete';
  /** What the request is, for messages: "push blob", "fetch manifest". */
  what: string;
}

const TokenResponseSchema = z.looseObject({ token: z.string().optional(), access_token: z.string().optional() });

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: URL;
  readonly insecure: boolean;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly userAgent: string;
  readonly #creds: BasicCredentials | undefined;
  readonly #saToken: string | undefined;
  readonly #httpAgent = new http.Agent({ keepAlive: true });
  readonly #httpsAgent: https.Agent;
  #useBasic = false;
  readonly #tokens = new Map<string, string>(); // repository ('' for none) -> bearer token

  constructor(opts: RegistryClientOptions) {
    const reg = opts.registry;
    const parsed = typeof reg === 'string' ? safeRegistry(reg) : undefined;
    if (parsed === undefined) {
      throw new RegistryError('InvalidConfig', String(reg), `invalid registry ${JSON.stringify(String(reg))}: expected host[:port], such as registry.example.com or 127.0.0.1:5000`);
    }
    this.registry = parsed;
    this.insecure = opts.insecure ?? false;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.userAgent = opts.userAgent ?? 'layered-build-controller';
    this.baseUrl = new URL(`${this.insecure ? 'http' : 'https'}://${this.registry}`);
    if (opts.dockerConfigJson !== undefined) {
      try {
        this.#creds = credentialsFromDockerConfig(opts.dockerConfigJson, this.registry);
      } catch (e) {
        if (e instanceof DockerConfigError) throw new RegistryError('InvalidConfig', this.registry, e.message);
        throw e;
      }
    }
    this.#saToken = opts.serviceAccountToken || undefined;
    // The CA bundle applies to every https peer: the registry and its token service.
    this.#httpsAgent = new https.Agent({ keepAlive: true, ...(opts.caBundlePem ? { ca: [...tls.rootCertificates, opts.caBundlePem] } : {}) });
  }

  /** Whether credentials for this registry were found in the docker config. */
  get hasCredentials(): boolean {
    return this.#creds !== undefined;
  }

  /** Release pooled connections. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  /** GET /v2/: checks that the registry answers and that the credentials (if any) are accepted. */
  async ping(): Promise<void> {
    const res = await this.#request({ method: 'GET', url: this.#url('/v2/'), actions: 'pull', what: 'check the API version' });
    if (res.status === 200) return;
    throw this.#statusError(res, { method: 'GET', url: this.#url('/v2/'), actions: 'pull', what: 'check the API version' });
  }

  /** The digest the registry reports for a manifest (by tag or digest), or undefined when absent. */
  async headManifest(repository: string, reference: string): Promise<string | undefined> {
    const op: Op = {
      method: 'HEAD',
      url: this.#url(`/v2/${this.#repo(repository)}/manifests/${this.#reference(reference)}`),
      headers: { Accept: MANIFEST_ACCEPT },
      repository,
      actions: 'pull',
      what: `check manifest ${reference}`,
    };
    const res = await this.#request(op);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.#statusError(res, op);
    const d = header(res, 'docker-content-digest');
    if (d !== undefined && isDigest(d)) return d;
    if (isDigest(reference)) return reference;
    // No digest header: fetch the manifest to learn its digest.
    return (await this.getManifest(repository, reference)).digest;
  }

  async manifestExists(repository: string, reference: string): Promise<boolean> {
    return (await this.headManifest(repository, reference)) !== undefined;
  }

  async blobExists(repository: string, digest: string): Promise<boolean> {
    const op: Op = {
      method: 'HEAD',
      url: this.#url(`/v2/${this.#repo(repository)}/blobs/${this.#digest(digest)}`),
      repository,
      actions: 'pull',
      what: `check blob ${digest}`,
    };
    const res = await this.#request(op);
    if (res.status === 200 || res.status === 307 || res.status === 302) return true;
    if (res.status === 404) return false;
    throw this.#statusError(res, op);
  }

  /** Monolithic upload: POST an upload session, then PUT the bytes with ?digest=. Returns bytes uploaded. */
  async pushBlob(repository: string, digest: string, data: Buffer): Promise<number> {
    this.#digest(digest);
    if (`sha256:${sha256(data)}` !== digest) throw new Error(`pushBlob: data does not match ${digest}`);
    const start: Op = {
      method: 'POST',
      url: this.#url(`/v2/${this.#repo(repository)}/blobs/uploads/`),
      headers: { 'Content-Length': '0' },
      body: Buffer.alloc(0),
      repository,
      actions: 'pull,push',
      what: `start a blob upload`,
    };
    const res = await this.#request(start);
    if (res.status === 201) return 0; // already there (mounted)
    if (res.status !== 202) throw this.#statusError(res, start);
    const location = header(res, 'location');
    if (location === undefined) {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} accepted a blob upload for ${repository} but sent no Location header`, { repository, status: res.status });
    }
    let url: URL;
    try {
      url = new URL(location, this.baseUrl);
    } catch {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} sent an unusable upload Location for ${repository}`, { repository, status: res.status });
    }
    url.searchParams.set('digest', digest);
    const put: Op = {
      method: 'PUT',
      url,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
      body: data,
      repository,
      actions: 'pull,push',
      what: `upload blob ${digest}`,
    };
    const done = await this.#request(put);
    if (done.status !== 201 && done.status !== 204) throw this.#statusError(done, put);
    const got = header(done, 'docker-content-digest');
    if (got !== undefined && got !== digest) {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} stored blob ${got} for ${repository} where ${digest} was uploaded`, { repository, status: done.status });
    }
    return data.length;
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry reports (or the body's). */
  async putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const op: Op = {
      method: 'PUT',
      url: this.#url(`/v2/${this.#repo(repository)}/manifests/${this.#reference(reference)}`),
      headers: { 'Content-Type': mediaType, 'Content-Length': String(body.length) },
      body,
      repository,
      actions: 'pull,push',
      what: `push manifest ${reference}`,
    };
    const res = await this.#request(op);
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw this.#statusError(res, op);
    const expected = `sha256:${sha256(body)}`;
    const got = header(res, 'docker-content-digest');
    if (got !== undefined && isDigest(got) && got !== expected) {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} stored manifest ${got} for ${repository} where ${expected} was pushed`, { repository, status: res.status });
    }
    return expected;
  }

  /**
   * DELETE of a manifest by digest (OCI distribution: only by digest). `deleted`
   * (202), `gone` (404: nothing there), or `unsupported` when the registry does
   * not allow deletes (405, or 400 with the code UNSUPPORTED);
   * anything else throws.
   */
  async deleteManifest(repository: string, digest: string): Promise<'deleted' | 'gone' | 'unsupported'> {
    const op: Op = {
      method: 'DELETE',
      url: this.#url(`/v2/${this.#repo(repository)}/manifests/${this.#digest(digest)}`),
      repository,
      actions: 'delete',
      what: `delete manifest ${digest}`,
    };
    const res = await this.#request(op);
    if (res.status === 202 || res.status === 200 || res.status === 204) return 'deleted';
    if (res.status === 404) return 'gone';
    if (res.status === 405 || (res.status === 400 && /"code"\s*:\s*"UNSUPPORTED"/.test(res.body.toString('utf8')))) return 'unsupported';
    throw this.#statusError(res, op);
  }

  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const op: Op = {
      method: 'GET',
      url: this.#url(`/v2/${this.#repo(repository)}/manifests/${this.#reference(reference)}`),
      headers: { Accept: MANIFEST_ACCEPT },
      repository,
      actions: 'pull',
      what: `fetch manifest ${reference}`,
    };
    const res = await this.#request(op);
    if (res.status !== 200) throw this.#statusError(res, op);
    const digest = `sha256:${sha256(res.body)}`;
    if (isDigest(reference) && digest !== reference) {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} returned a manifest for ${repository}@${reference} whose content has digest ${digest}`, { repository, status: res.status });
    }
    const ct = header(res, 'content-type') ?? '';
    return { body: res.body, mediaType: ct.split(';')[0]?.trim() ?? '', digest };
  }

  /** Fetch a blob (following up to 5 redirects) and verify its digest. */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    let op: Op = {
      method: 'GET',
      url: this.#url(`/v2/${this.#repo(repository)}/blobs/${this.#digest(digest)}`),
      repository,
      actions: 'pull',
      what: `fetch blob ${digest}`,
    };
    for (let hops = 0; ; hops++) {
      const res = await this.#request(op);
      const loc = header(res, 'location');
      if ([301, 302, 303, 307, 308].includes(res.status) && loc !== undefined && hops < 5) {
        op = { ...op, url: new URL(loc, op.url) };
        continue;
      }
      if (res.status !== 200) throw this.#statusError(res, op);
      const got = `sha256:${sha256(res.body)}`;
      if (got !== digest) {
        throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} returned blob ${digest} of ${repository} with content digest ${got}`, { repository, status: res.status });
      }
      return res.body;
    }
  }

  /**
   * Push an image by tag: first HEAD every tag, and when each already names
   * the image's digest push nothing at all; otherwise push the blobs the
   * registry lacks (HEAD first) and PUT the manifest under each tag that does
   * not name it yet. With no tags the manifest is pushed by digest (a plain
   * registry only: the integrated registry records only tagged pushes).
   */
  async pushImage(repository: string, image: PushableImage, tags: readonly string[] = []): Promise<PushResult> {
    const refs = tags.length > 0 ? [...new Set(tags)] : [image.manifestDigest];
    const missing: string[] = [];
    for (const ref of refs) {
      if ((await this.headManifest(repository, ref)) !== image.manifestDigest) missing.push(ref);
    }
    if (missing.length === 0) return { digest: image.manifestDigest, pushed: false, bytes: 0 };
    let bytes = 0;
    for (const [digest, data] of [
      [image.configDigest, image.config],
      [image.layerDigest, image.layer],
    ] as const) {
      if (await this.blobExists(repository, digest)) continue;
      bytes += await this.pushBlob(repository, digest, data);
    }
    const mediaType = image.manifestMediaType ?? mediaTypeOf(image.manifest);
    for (const ref of missing) {
      await this.putManifest(repository, ref, image.manifest, mediaType);
      bytes += image.manifest.length;
    }
    return { digest: image.manifestDigest, pushed: true, bytes };
  }

  // ---- internals --------------------------------------------------------------

  #url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  #repo(repository: string): string {
    const r = parseImageRef(`${this.registry}/${repository}`);
    if (r.repository !== repository || r.tag !== undefined || r.digest !== undefined) {
      throw new RegistryError('InvalidConfig', this.registry, `invalid repository name ${JSON.stringify(repository)}`, { repository });
    }
    return repository;
  }

  #reference(ref: string): string {
    if (isDigest(ref) || /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(ref)) return ref;
    throw new RegistryError('InvalidConfig', this.registry, `invalid tag or digest ${JSON.stringify(ref.slice(0, 140))}`);
  }

  #digest(d: string): string {
    const shown = String(d).slice(0, 80);
    if (isDigest(d)) return d;
    throw new RegistryError('InvalidConfig', this.registry, `invalid digest ${JSON.stringify(shown)}: expected sha256:<64 lowercase hex>`);
  }

  #authHeaderFor(op: Op): string | undefined {
    if (op.url.origin !== this.baseUrl.origin) return undefined; // never send credentials elsewhere
    const token = this.#tokens.get(op.repository ?? '');
    if (token !== undefined) return `Bearer ${token}`;
    if (this.#useBasic && this.#creds) return basicAuthHeader(this.#creds);
    return undefined;
  }

  async #request(op: Op): Promise<HttpResponse> {
    const first = await this.#sendOp(op);
    if (first.status !== 401 || op.url.origin !== this.baseUrl.origin) return first;
    const challenges = parseWwwAuthenticate(first.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined) {
      await this.#fetchToken(bearer, op);
      return this.#sendOp(op);
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic !== undefined && this.#creds !== undefined && !this.#useBasic) {
      this.#useBasic = true;
      return this.#sendOp(op);
    }
    return first;
  }

  #sendOp(op: Op): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...op.headers };
    const auth = this.#authHeaderFor(op);
    if (auth !== undefined) headers.Authorization = auth;
    return this.#send(op.method, op.url, headers, op.body);
  }

  async #fetchToken(ch: AuthChallenge, op: Op): Promise<void> {
    const realm = ch.params.realm;
    let url: URL;
    try {
      if (realm === undefined) throw new Error('no realm');
      url = new URL(realm);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('bad scheme');
    } catch {
      throw new RegistryError('BadResponse', this.registry, `registry ${this.registry} asked for a bearer token but gave no usable realm URL`, { repository: op.repository, status: 401 });
    }
    if (url.protocol === 'http:' && !this.insecure) {
      throw new RegistryError('TLS', this.registry, `registry ${this.registry} points to a plain-http token service (${url.host}); refusing to send credentials without TLS`, { repository: op.repository });
    }
    if (ch.params.service !== undefined) url.searchParams.set('service', ch.params.service);
    const scopes = new Set<string>();
    if (ch.params.scope !== undefined) for (const s of ch.params.scope.split(' ')) if (s) scopes.add(s);
    if (op.repository !== undefined) scopes.add(`repository:${op.repository}:${op.actions}`);
    for (const s of scopes) url.searchParams.append('scope', s);

    const headers: Record<string, string> = { 'User-Agent': this.userAgent, Accept: 'application/json' };
    if (this.#creds) headers.Authorization = basicAuthHeader(this.#creds);
    // The ServiceAccount token goes only to a realm on the registry's own origin (the integrated registry's /openshift/token).
    else if (this.#saToken && url.origin === this.baseUrl.origin) headers.Authorization = basicAuthHeader({ username: 'unused', password: this.#saToken });
    const res = await this.#send('GET', url, headers, undefined, `the token service ${url.host} of registry ${this.registry}`);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'Unauthorized',
        this.registry,
        this.#creds
          ? `the token service ${url.host} of registry ${this.registry} rejected the push secret's credentials (HTTP ${res.status}): check the user name and password in the push secret's entry for ${this.registry}`
          : headers.Authorization
            ? `the token service ${url.host} of registry ${this.registry} rejected the operator's ServiceAccount token (HTTP ${res.status}): it needs get (pull) and update (push) on imagestreams/layers in the stream's namespace`
            : `the token service ${url.host} of registry ${this.registry} requires credentials (HTTP ${res.status}): configure a push secret with an entry for ${this.registry}`,
        { repository: op.repository, status: res.status },
      );
    }
    if (res.status !== 200) {
      throw new RegistryError('BadResponse', this.registry, `the token service ${url.host} of registry ${this.registry} answered HTTP ${res.status}${errorDetail(res)}`, { repository: op.repository, status: res.status });
    }
    let token: string | undefined;
    try {
      const parsed = TokenResponseSchema.parse(JSON.parse(res.body.toString('utf8')));
      token = parsed.token ?? parsed.access_token;
    } catch {
      token = undefined;
    }
    if (!token) {
      throw new RegistryError('BadResponse', this.registry, `the token service ${url.host} of registry ${this.registry} returned no token`, { repository: op.repository, status: res.status });
    }
    this.#tokens.set(op.repository ?? '', token);
  }

  #statusError(res: HttpResponse, op: Op): RegistryError {
    const where = op.repository !== undefined ? ` for ${op.repository}` : '';
    const opts = { repository: op.repository, status: res.status };
    if (res.status === 401) {
      return new RegistryError(
        'Unauthorized',
        this.registry,
        this.#creds
          ? `registry ${this.registry} rejected the push secret's credentials${where} (HTTP 401 on ${op.what}): check the user name and password in the push secret's entry for ${this.registry}`
          : `registry ${this.registry} requires authentication${where} (HTTP 401 on ${op.what}): configure a push secret (kubernetes.io/dockerconfigjson) with an entry for ${this.registry}`,
        opts,
      );
    }
    if (res.status === 403) {
      return new RegistryError('Unauthorized', this.registry, `registry ${this.registry} denied access${where} (HTTP 403 on ${op.what}): the push secret's account needs ${op.actions === 'pull' ? 'pull' : 'push'} permission on ${op.repository ?? 'the repository'}${errorDetail(res)}`, opts);
    }
    if (res.status === 404) {
      return new RegistryError('NotFound', this.registry, `registry ${this.registry} has no such object${where} (HTTP 404 on ${op.what})${errorDetail(res)}`, opts);
    }
    let hint = '';
    if (res.status === 400 && /HTTPS server/i.test(res.body.toString('utf8'))) hint = ': the registry serves https, do not mark it insecure';
    return new RegistryError('BadResponse', this.registry, `registry ${this.registry} answered HTTP ${res.status} to ${op.method} ${op.url.pathname} (${op.what})${errorDetail(res)}${hint}`, opts);
  }

  #send(method: string, url: URL, headers: Record<string, string>, body: Buffer | undefined, peer = `registry ${this.registry}`): Promise<HttpResponse> {
    const isHttps = url.protocol === 'https:';
    const mod = isHttps ? https : http;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(this.#transportError(err, peer));
      };
      const req = mod.request(url, {
        method,
        headers,
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
      });
      const timer = setTimeout(() => {
        const e = new Error(`no answer within ${this.timeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      }, this.timeoutMs);
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxResponseBytes) {
            req.destroy(Object.assign(new Error(`response larger than ${this.maxResponseBytes} bytes`), { code: 'ETOOBIG' }));
            return;
          }
          chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      req.end(body);
    });
  }

  #transportError(err: unknown, peer: string): RegistryError {
    if (err instanceof RegistryError) return err;
    const e = err as NodeJS.ErrnoException;
    const code = typeof e?.code === 'string' ? e.code : '';
    const msg = typeof e?.message === 'string' ? e.message : String(err);
    if (code === 'ETOOBIG') {
      return new RegistryError('BadResponse', this.registry, `${peer} sent ${msg}`, { cause: err });
    }
    if (code.startsWith('HPE_')) {
      const hint = this.insecure ? ': the registry may serve https, do not mark it insecure' : '';
      return new RegistryError('BadResponse', this.registry, `${peer} sent a malformed HTTP response (${code})${hint}`, { cause: err });
    }
    if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || TLS_CODES.has(code) || /SSL|TLS|certificate/i.test(msg)) {
      let hint = 'check the CA bundle configured for the registry (it must contain the CA that signed the registry certificate) and that the certificate names this host';
      if (/wrong version number|packet length too long|WRONG_VERSION/i.test(msg + code)) hint = 'the registry seems to serve plain http: mark it insecure (loopback only) or enable TLS on it';
      return new RegistryError('TLS', this.registry, `TLS with ${peer} failed (${code || msg}): ${hint}`, { cause: err });
    }
    return new RegistryError(
      'Unreachable',
      this.registry,
      `${peer} is unreachable (${code || msg}): check the registry address, that the registry is running, and that the network allows the connection`,
      { cause: err },
    );
  }
}

function safeRegistry(reg: string): string | undefined {
  try {
    const r = parseImageRef(`${reg}/x`);
    return r.explicitRegistry && r.registry === reg ? reg : undefined;
  } catch {
    return undefined;
  }
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function mediaTypeOf(manifest: Buffer): string {
  try {
    const m = JSON.parse(manifest.toString('utf8')) as { mediaType?: unknown };
    if (typeof m.mediaType === 'string') return m.mediaType;
  } catch {
    // fall through
  }
  return 'application/vnd.oci.image.manifest.v1+json';
}

/** A short, printable excerpt of a registry error body (`errors[].code: message`). */
function errorDetail(res: HttpResponse): string {
  if (res.body.length === 0) return '';
  const text = res.body.toString('utf8');
  try {
    const j = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    if (Array.isArray(j.errors) && j.errors.length > 0) {
      return `: ${j.errors
        .slice(0, 3)
        .map((x) => `${String(x.code ?? '')}${x.message ? ` ${String(x.message)}` : ''}`)
        .join('; ')
        .slice(0, 300)}`;
    }
  } catch {
    // not JSON
  }
  // eslint-disable-next-line no-control-regex
  return `: ${text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 200)}`;
}
