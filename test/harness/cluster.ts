// Helpers tests use to reach the cluster and the registry the global setup
// provided (test/harness/global-setup.ts).
import { execFile } from 'node:child_process';
import { CustomObjectsApi, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { inject } from 'vitest';
import type { ClusterEnv } from './global-setup.ts';

/** KUBECONFIG, KUBECTL, LOCAL_REGISTRY, LBC_NAMESPACE as the global setup resolved them. */
export function clusterEnv(): ClusterEnv {
  return inject('clusterEnv');
}

/**
 * The environment a child process (the operator, the CLI...) needs to reach
 * the same cluster: process.env plus the cluster's variables (and, on the
 * local control plane, its buildah storage settings).
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...inject('localClusterEnv'), ...clusterEnv(), ...extra };
}

let cachedKubeConfig: KubeConfig | undefined;

export function kubeConfig(): KubeConfig {
  if (!cachedKubeConfig) {
    const kc = new KubeConfig();
    kc.loadFromFile(clusterEnv().KUBECONFIG);
    cachedKubeConfig = kc;
  }
  return cachedKubeConfig;
}

/** The same cluster and credentials, impersonating `user` (whose RBAC a test can grant and take away). */
export function impersonating(user: string): KubeConfig {
  const kc = kubeConfig();
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: kc.clusters,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
    users: kc.users.map((u) => ({ ...u, impersonateUser: user })),
  });
  return limited;
}

export function objectApi(): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(kubeConfig());
}

export function namespace(): string {
  return clusterEnv().LBC_NAMESPACE;
}

/** host:port of the registry builds push to. */
export function registryHost(): string {
  const host = clusterEnv().LOCAL_REGISTRY;
  if (!host) throw new Error('LOCAL_REGISTRY is not set');
  return host;
}

/** host:port of the integrated registry (where the operator pushes and builds go). */
export function internalRegistryHost(): string {
  const host = clusterEnv().INTERNAL_REGISTRY;
  if (!host) throw new Error('INTERNAL_REGISTRY is not set');
  return host;
}

/** Whether `host` is one of the local control plane's registries (plain http on the node's bridge or loopback). */
export function isPlainHttpRegistry(host: string): boolean {
  const local = inject('localClusterEnv');
  return /^(127\.|localhost[:]|\[::1\])/.test(host) || host === local.LOCAL_REGISTRY || host === local.INTERNAL_REGISTRY;
}

/** Base URL of a registry's HTTP API (default the outside one; the local ones are plain http). */
export function registryUrl(host = registryHost()): string {
  return `${isPlainHttpRegistry(host) ? 'http' : 'https'}://${host}`;
}

/** Runs the cluster's `oc` (the admin's tool). Rejects on a non-zero exit unless allowFailure. */
export function oc(args: string[], opts: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return runTool(clusterEnv().OC, 'oc', args, opts);
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs the cluster's kubectl. Rejects on a non-zero exit unless allowFailure. */
export function kubectl(
  args: string[],
  opts: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<KubectlResult> {
  return runTool(clusterEnv().KUBECTL, 'kubectl', args, opts);
}

function runTool(bin: string, name: string, args: string[], opts: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<KubectlResult> {
  const env = clusterEnv();
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        if (code !== 0 && !opts.allowFailure) {
          reject(new Error(`${name} ${args.join(' ')} failed (${code}): ${stderr.trim()}`));
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The parts of a Kubernetes object the tests read (as kubectl prints it: timestamps are strings). */
export interface KObj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    /** Only with `--show-managed-fields`. */
    managedFields?: { manager: string; operation?: string; fieldsV1?: unknown }[];
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** The resources the tests read most (every wait polls one), by the words kubectl takes for them. */
const IN_PROCESS: Record<string, { group: string; version: string; plural: string; kind: string; namespaced: boolean }> = {};
for (const [words, r] of [
  [['layeredpool', 'layeredpools', 'layeredpools.layering.mco.dev'], { group: 'layering.mco.dev', version: 'v1alpha1', plural: 'layeredpools', kind: 'LayeredPool', namespaced: true }],
  [['machineconfigpool', 'machineconfigpools', 'mcp'], { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigpools', kind: 'MachineConfigPool', namespaced: false }],
  [['machineconfig', 'machineconfigs', 'mc'], { group: 'machineconfiguration.openshift.io', version: 'v1', plural: 'machineconfigs', kind: 'MachineConfig', namespaced: false }],
  [['imagestream', 'imagestreams', 'is', 'imagestreams.image.openshift.io'], { group: 'image.openshift.io', version: 'v1', plural: 'imagestreams', kind: 'ImageStream', namespaced: true }],
  [['imagestreamtag', 'imagestreamtags', 'istag'], { group: 'image.openshift.io', version: 'v1', plural: 'imagestreamtags', kind: 'ImageStreamTag', namespaced: true }],
  [['build', 'builds', 'builds.build.openshift.io'], { group: 'build.openshift.io', version: 'v1', plural: 'builds', kind: 'Build', namespaced: true }],
  [['buildconfig', 'buildconfigs', 'bc', 'buildconfigs.build.openshift.io'], { group: 'build.openshift.io', version: 'v1', plural: 'buildconfigs', kind: 'BuildConfig', namespaced: true }],
] as const) {
  for (const w of words) IN_PROCESS[w] = r;
}

let customApi: CustomObjectsApi | undefined;

/**
 * `kubectl get` of one of IN_PROCESS's resources, answered in this process by
 * client-node (a GET, no kubectl process: the waits poll every 500 ms on a
 * 2-core machine that also runs the builds). undefined: not such a call
 * (another resource, a flag other than -n and --show-managed-fields), kubectl does it.
 * managedFields are dropped unless asked for, and list items get their apiVersion and kind, as kubectl does.
 */
async function getInProcess(args: string[]): Promise<{ found: boolean; obj?: unknown } | undefined> {
  let namespace: string | undefined;
  let managed = false;
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-n' || a === '--namespace') namespace = args[++i];
    else if (a === '--show-managed-fields') managed = true;
    else if (a.startsWith('-')) return undefined;
    else words.push(a);
  }
  const r = IN_PROCESS[words[0] ?? ''];
  if (!r || words.length > 2 || (r.namespaced && !namespace)) return undefined;
  customApi ??= kubeConfig().makeApiClient(CustomObjectsApi);
  const strip = (o: unknown) => {
    if (!managed) delete (o as { metadata?: { managedFields?: unknown } }).metadata?.managedFields;
    return o;
  };
  const { group, version, plural } = r;
  try {
    if (words.length === 2) {
      const name = words[1]!;
      const obj: unknown = r.namespaced
        ? await customApi.getNamespacedCustomObject({ group, version, namespace: namespace!, plural, name })
        : await customApi.getClusterCustomObject({ group, version, plural, name });
      return { found: true, obj: strip(obj) };
    }
    const list = (r.namespaced
      ? await customApi.listNamespacedCustomObject({ group, version, namespace: namespace!, plural })
      : await customApi.listClusterCustomObject({ group, version, plural })) as { items?: unknown[] };
    // The API's list items carry no apiVersion and kind; kubectl's do.
    for (const i of list.items ?? []) Object.assign(strip(i) as object, { apiVersion: `${group}/${version}`, kind: r.kind });
    return { found: true, obj: list };
  } catch (e) {
    if ((e as { code?: number }).code === 404) return { found: false };
    throw new Error(`GET ${plural}${words[1] ? ` ${words[1]}` : ''}${namespace ? ` in ${namespace}` : ''}: ${(e as Error).message}`);
  }
}

/** `kubectl get <args> -o json`; undefined when the object does not exist. */
export async function getJson<T = KObj>(args: string[]): Promise<T | undefined> {
  const direct = await getInProcess(args);
  if (direct) return direct.found ? (direct.obj as T) : undefined;
  const r = await kubectl(['get', ...args, '-o', 'json'], { allowFailure: true });
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** The items of `kubectl get <args> -o json` (a list). */
export async function listJson<T = KObj>(args: string[]): Promise<T[]> {
  const direct = await getInProcess(args);
  if (direct?.found) return ((direct.obj as { items?: T[] }).items ?? []);
  const r = await kubectl(['get', ...args, '-o', 'json']);
  return (JSON.parse(r.stdout) as { items: T[] }).items;
}

/**
 * Polls fn until it returns a value other than undefined/false (which is then
 * returned) or the time is up. A throwing fn counts as "not yet"; its last
 * error is in the timeout message.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${opts.what ?? 'a condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
