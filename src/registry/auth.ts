// Pure helpers for registry authentication: reading a docker config JSON (the
// content of a kubernetes.io/dockerconfigjson or dockercfg Secret) and parsing
// WWW-Authenticate challenges. No I/O. Nothing here ever puts a credential
// into an error message.
import { z } from 'zod';

export interface BasicCredentials {
  username: string;
  password: string;
}

export class DockerConfigError extends Error {
  override name = 'DockerConfigError';
}

const AuthEntrySchema = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});
const DockerConfigSchema = z.looseObject({
  auths: z.record(z.string(), AuthEntrySchema).optional(),
});
const LegacyDockerCfgSchema = z.record(z.string(), AuthEntrySchema);

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** `https://Quay.IO/v1/` -> `quay.io`; `host:5000` stays `host:5000`. */
export function normalizeRegistryHost(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  return k;
}

/**
 * The credentials a docker config JSON holds for `registryHost`, or undefined
 * when it has no entry for that host. Accepts the `{"auths": {...}}` form and
 * the legacy `.dockercfg` form (entries at the top level); entries give either
 * `auth` (base64 of `user:password`) or `username` + `password`. Throws
 * DockerConfigError (with no secret in its message) when the JSON is malformed.
 */
export function credentialsFromDockerConfig(dockerConfig: string | unknown, registryHost: string): BasicCredentials | undefined {
  let raw: unknown = dockerConfig;
  if (typeof dockerConfig === 'string') {
    try {
      raw = JSON.parse(dockerConfig);
    } catch {
      throw new DockerConfigError('the push secret is not valid JSON (expected the content of a kubernetes.io/dockerconfigjson Secret)');
    }
  }
  let entries: Record<string, z.infer<typeof AuthEntrySchema>>;
  const modern = DockerConfigSchema.safeParse(raw);
  if (modern.success && modern.data.auths !== undefined) {
    entries = modern.data.auths;
  } else {
    const legacy = LegacyDockerCfgSchema.safeParse(raw);
    if (!legacy.success) {
      throw new DockerConfigError('the push secret is not a docker config: expected {"auths": {"<registry>": {"auth": "<base64 user:password>"}}}');
    }
    entries = legacy.data;
  }
  const want = normalizeRegistryHost(registryHost);
  const candidates = DOCKER_HUB_ALIASES.includes(want) ? DOCKER_HUB_ALIASES : [want];
  for (const [key, entry] of Object.entries(entries)) {
    if (!candidates.includes(normalizeRegistryHost(key))) continue;
    if (entry.username !== undefined && entry.password !== undefined && entry.username !== '') {
      return { username: entry.username, password: entry.password };
    }
    if (entry.auth !== undefined && entry.auth !== '') {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(entry.auth.trim())) {
        throw new DockerConfigError(`the push secret's entry for ${want} has an "auth" field that is not base64 (expected base64 of "user:password")`);
      }
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) {
        throw new DockerConfigError(`the push secret's entry for ${want} has an "auth" field whose base64 decodes to no "user:" part (expected base64 of "user:password")`);
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    throw new DockerConfigError(`the push secret's entry for ${want} has neither "auth" nor "username" and "password"`);
  }
  return undefined;
}

/**
 * What is wrong with a push secret's decoded data for pushing to `registry`,
 * or undefined when it gives credentials for it. Names keys and registries,
 * never values.
 */
export function pushSecretProblem(data: Record<string, string>, registry: string): string | undefined {
  const content = data['.dockerconfigjson'] ?? data['.dockercfg'];
  if (content === undefined) {
    const keys = Object.keys(data).sort();
    return `has no .dockerconfigjson (or .dockercfg) key (keys: ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'none'}); create it with oc create secret docker-registry`;
  }
  const key = data['.dockerconfigjson'] !== undefined ? '.dockerconfigjson' : '.dockercfg';
  let creds: BasicCredentials | undefined;
  try {
    creds = credentialsFromDockerConfig(content, registry);
  } catch (e) {
    if (!(e instanceof DockerConfigError)) throw e;
    return `${key}: ${e.message.replace("the push secret's entry", 'the entry').replace('the push secret is', 'it is')}`;
  }
  if (creds) return undefined;
  let hosts: string[] = [];
  try {
    const raw = JSON.parse(content) as { auths?: Record<string, unknown> } & Record<string, unknown>;
    hosts = Object.keys(raw.auths ?? raw).map(normalizeRegistryHost);
  } catch {
    /* parsed above */
  }
  return `${key} has no entry for registry ${normalizeRegistryHost(registry)} (entries: ${hosts.length ? hosts.join(', ') : 'none'})`;
}

export function basicAuthHeader(c: BasicCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

export interface AuthChallenge {
  scheme: string; // lowercase: bearer | basic | ...
  params: Record<string, string>; // keys lowercase
}

/**
 * Parse a WWW-Authenticate header value into challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push"`.
 * Handles quoted values with escapes and commas, unquoted tokens, and several
 * challenges in one header.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: AuthChallenge[] = [];
  let i = 0;
  let current: AuthChallenge | undefined;
  const n = text.length;
  const skipWs = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
  };
  while (i < n) {
    skipWs();
    if (i >= n) break;
    const start = i;
    while (i < n && /[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(text[i] ?? '')) i++;
    const tok = text.slice(start, i);
    if (tok === '') {
      i++; // unexpected character: skip it
      continue;
    }
    let j = i;
    while (j < n && (text[j] === ' ' || text[j] === '\t')) j++;
    if (text[j] === '=' && current !== undefined) {
      // auth-param
      i = j + 1;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++; // closing quote
      } else {
        const vs = i;
        while (i < n && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++;
        value = text.slice(vs, i);
      }
      current.params[tok.toLowerCase()] = value;
    } else {
      current = { scheme: tok.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
