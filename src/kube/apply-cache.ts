// A server-side-apply request cache, as cluster-api's ssa cache: after an
// apply succeeds, remember (object, hash of the request body, resourceVersion
// the server returned). The same request against an object still at that
// resourceVersion would change nothing (the server answered it already), so it
// is not sent again. Anything else changing the object moves its
// resourceVersion, and the next apply goes out. One entry per object (the
// newest request), so the cache never holds more than the objects written.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json.ts';

/** Identity of an apply target: resource, namespace, name, and whether it is the status subresource. */
export interface ApplyTarget {
  plural: string;
  group: string;
  namespace?: string | undefined;
  name: string;
  subresource?: 'status';
}

export function targetKey(t: ApplyTarget): string {
  return `${t.group}/${t.plural}/${t.namespace ?? ''}/${t.name}${t.subresource ? `/${t.subresource}` : ''}`;
}

/** sha256 of the canonical JSON of a request body: equal for equal content whatever the key order. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

interface Entry {
  hash: string;
  resourceVersion: string;
}

export class ApplyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  hits = 0;
  misses = 0;

  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
  }

  /**
   * Whether the request `hash` for `target` was answered by the server when
   * the object had `currentVersion` (the resourceVersion in the informer's
   * cache now). Unknown version (not cached): false.
   */
  has(target: ApplyTarget, hash: string, currentVersion: string | undefined): boolean {
    const hit = this.peek(target, hash, currentVersion);
    if (hit) this.hits++;
    else this.misses++;
    return hit;
  }

  /** As `has`, without counting (a dry run asks). */
  peek(target: ApplyTarget, hash: string, currentVersion: string | undefined): boolean {
    const e = currentVersion === undefined ? undefined : this.#entries.get(targetKey(target));
    return e !== undefined && e.hash === hash && e.resourceVersion === currentVersion;
  }

  /** Records a successful apply: the object was at `resourceVersion` after it. */
  add(target: ApplyTarget, hash: string, resourceVersion: string | undefined): void {
    const key = targetKey(target);
    this.#entries.delete(key);
    if (resourceVersion === undefined) return;
    this.#entries.set(key, { hash, resourceVersion });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forgets an object (a failed apply, a deletion). */
  forget(target: ApplyTarget): void {
    this.#entries.delete(targetKey(target));
  }

  get size(): number {
    return this.#entries.size;
  }
}
