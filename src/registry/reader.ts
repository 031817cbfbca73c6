// The registry read client beside the push client: manifests (an index
// resolved to linux/amd64), blob presence and blob bytes, for the checks before
// the hand-off. Same transport and auth as the push client (RegistryClient):
// the integrated registry's bearer flow with the operator's ServiceAccount
// token, a docker-config secret for other registries, the CA bundle.
import { z } from 'zod';
import { parseImageRef } from '../plan/imageref.ts';
import { RegistryClient, RegistryError, type RegistryClientOptions } from './client.ts';
import type { RegistryClients } from './clients.ts';

const DescriptorSchema = z.looseObject({ mediaType: z.string().optional(), digest: z.string(), size: z.number().int().min(0) });
export const ImageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;
const IndexSchema = z.looseObject({
  manifests: z.array(DescriptorSchema.extend({ platform: z.looseObject({ os: z.string().optional(), architecture: z.string().optional() }).optional() })),
});

/** What the image check reads; RegistryReader is the real one, tests may inject their own. */
export interface ImageSource {
  /** The image manifest at `ref` (`host/repo@sha256:...`); an index is resolved to linux/amd64. */
  manifest(ref: string): Promise<ImageManifest>;
  blobExists(ref: string, digest: string): Promise<boolean>;
  blob(ref: string, digest: string): Promise<Buffer>;
}

export interface RegistryReaderOptions {
  /** The configured (integrated) registry host[:port]: the only one plain http and the ServiceAccount token apply to. */
  registry: string;
  insecure?: boolean;
  /** Other registries (host[:port]) reached over plain http (--insecure-registries: where external images may live). */
  insecureRegistries?: readonly string[] | undefined;
  caBundlePem?: string | undefined;
  /** Docker config JSON (push secret) with entries for any registry. */
  dockerConfigJson?: string | undefined;
  /** The ServiceAccount token, used for the configured registry when the docker config has no entry for it. */
  serviceAccountToken?: string | undefined;
  /** Largest blob downloaded, bytes. */
  maxBlobBytes?: number;
  timeoutMs?: number;
  /** Long-lived clients to take from (kept open by close()); default: clients of this reader's own. */
  clients?: RegistryClients;
}

export class RegistryReader implements ImageSource {
  readonly #o: RegistryReaderOptions;
  readonly #clients = new Map<string, RegistryClient>();

  constructor(o: RegistryReaderOptions) {
    this.#o = o;
  }

  close(): void {
    if (!this.#o.clients) for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  async manifest(ref: string): Promise<ImageManifest> {
    const { client, repository, reference } = this.#at(ref);
    let m = await client.getManifest(repository, reference);
    let json = parseJson(m.body, client.registry, ref);
    const index = IndexSchema.safeParse(json);
    if (index.success && !('config' in (json as object))) {
      const pick =
        index.data.manifests.find((d) => d.platform?.os === 'linux' && d.platform.architecture === 'amd64') ?? index.data.manifests[0];
      if (!pick) throw new RegistryError('BadResponse', client.registry, `the image index at ${ref} lists no manifests`);
      m = await client.getManifest(repository, pick.digest);
      json = parseJson(m.body, client.registry, ref);
    }
    const parsed = ImageManifestSchema.safeParse(json);
    if (!parsed.success) throw new RegistryError('BadResponse', client.registry, `the manifest at ${ref} is not an OCI/Docker v2 image manifest`);
    return parsed.data;
  }

  async blobExists(ref: string, digest: string): Promise<boolean> {
    const { client, repository } = this.#at(ref);
    return client.blobExists(repository, digest);
  }

  async blob(ref: string, digest: string): Promise<Buffer> {
    const { client, repository } = this.#at(ref);
    return client.getBlob(repository, digest);
  }

  #at(ref: string): { client: RegistryClient; repository: string; reference: string } {
    const r = parseImageRef(ref);
    const reference = r.digest ?? r.tag ?? 'latest';
    let client = this.#clients.get(r.registry);
    if (!client) {
      const own = r.registry === this.#o.registry;
      let dockerConfigJson: string | object | undefined = this.#o.dockerConfigJson;
      if (own && this.#o.serviceAccountToken && !hasEntry(dockerConfigJson, r.registry)) {
        // The integrated registry's token service takes the ServiceAccount token as the password.
        dockerConfigJson = { auths: { [r.registry]: { username: 'serviceaccount', password: this.#o.serviceAccountToken } } };
      }
      const opts: RegistryClientOptions = {
        registry: r.registry,
        insecure: own ? (this.#o.insecure ?? false) : (this.#o.insecureRegistries ?? []).includes(r.registry),
        ...(this.#o.caBundlePem ? { caBundlePem: this.#o.caBundlePem } : {}),
        ...(dockerConfigJson !== undefined ? { dockerConfigJson } : {}),
        ...(this.#o.maxBlobBytes !== undefined ? { maxResponseBytes: this.#o.maxBlobBytes } : {}),
        ...(this.#o.timeoutMs !== undefined ? { timeoutMs: this.#o.timeoutMs } : {}),
      };
      client = this.#o.clients ? this.#o.clients.client(opts) : new RegistryClient(opts);
      this.#clients.set(r.registry, client);
    }
    return { client, repository: r.repository, reference };
  }
}

function parseJson(body: Buffer, registry: string, ref: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('BadResponse', registry, `the manifest at ${ref} is not JSON`);
  }
}

function hasEntry(dockerConfigJson: string | object | undefined, host: string): boolean {
  if (dockerConfigJson === undefined) return false;
  try {
    const j = (typeof dockerConfigJson === 'string' ? JSON.parse(dockerConfigJson) : dockerConfigJson) as { auths?: Record<string, unknown> };
    return Object.keys(j.auths ?? j).some((k) => k.replace(/^[a-z]+:\/\//, '').split('/')[0] === host);
  } catch {
    return false;
  }
}
