// Long-lived registry clients, one per registry and credentials, shared by
// every pool's push and image check, and one bound on registry I/O across all
// pools (p-queue). A client keeps its keep-alive agents and its bearer tokens
// (a token that expired is replaced on the registry's 401), so a thousand
// pushes reuse a few connections instead of opening two agents each.
import { createHash } from 'node:crypto';
import PQueue from 'p-queue';
import { DEFAULT_VALUES } from '../config/defaults.ts';
import { RegistryClient, type RegistryClientOptions } from './client.ts';

/** Default number of registry operations (a push, an image check) in flight at once, across all pools (--registry-concurrency). */
export const DEFAULT_REGISTRY_CONCURRENCY: number = DEFAULT_VALUES.registryConcurrency;

/** The key of a client: everything that makes two clients behave differently, credentials included (hashed, never kept in clear). */
export function clientKey(o: RegistryClientOptions): string {
  const h = createHash('sha256');
  const cfg = o.dockerConfigJson === undefined ? '' : typeof o.dockerConfigJson === 'string' ? o.dockerConfigJson : JSON.stringify(o.dockerConfigJson);
  for (const v of [o.registry, String(o.insecure ?? false), o.caBundlePem ?? '', cfg, o.serviceAccountToken ?? '', String(o.timeoutMs ?? ''), String(o.maxResponseBytes ?? ''), o.userAgent ?? '']) {
    h.update(v);
    h.update('\0');
  }
  return h.digest('hex');
}

export interface RegistryClientsOptions {
  /** Registry operations in flight at once (default DEFAULT_REGISTRY_CONCURRENCY). */
  concurrency?: number;
  /** Clients kept; the least recently used beyond it is closed (default 8). */
  maxClients?: number;
  /** Makes a client (tests count them); default `new RegistryClient(o)`. */
  create?: (o: RegistryClientOptions) => RegistryClient;
}

export class RegistryClients {
  readonly #clients = new Map<string, RegistryClient>();
  readonly #queue: PQueue;
  readonly #max: number;
  readonly #create: (o: RegistryClientOptions) => RegistryClient;
  #made = 0;

  constructor(o: RegistryClientsOptions = {}) {
    this.#queue = new PQueue({ concurrency: o.concurrency ?? DEFAULT_REGISTRY_CONCURRENCY });
    this.#max = o.maxClients ?? 8;
    this.#create = o.create ?? ((opts) => new RegistryClient(opts));
  }

  /**
   * The client for these options, made once and kept. New credentials (a
   * rotated ServiceAccount token, an edited push secret) make a new client;
   * the least recently used one beyond `maxClients` is closed.
   */
  client(o: RegistryClientOptions): RegistryClient {
    const key = clientKey(o);
    let c = this.#clients.get(key);
    if (c) {
      this.#clients.delete(key); // re-inserted last: least recently used first
    } else {
      c = this.#create(o);
      this.#made++;
    }
    this.#clients.set(key, c);
    while (this.#clients.size > this.#max) {
      const [oldest, client] = this.#clients.entries().next().value as [string, RegistryClient];
      this.#clients.delete(oldest);
      client.close();
    }
    return c;
  }

  /** Runs one registry operation within the concurrency bound shared by every pool. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.add(fn);
  }

  /** Operations running and waiting. */
  get pending(): { running: number; waiting: number } {
    return { running: this.#queue.pending, waiting: this.#queue.size };
  }

  /** Clients made so far (for the benchmark and tests). */
  get clientsMade(): number {
    return this.#made;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
