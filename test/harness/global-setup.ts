// vitest globalSetup for the integration and e2e projects.
//
// With KUBECONFIG in the environment the tests run against that cluster as is
// (an OpenShift cluster with the product's CRDs; INTERNAL_REGISTRY names its
// integrated registry, LOCAL_REGISTRY a registry the tests may push "outside"
// images to, OC the oc binary). Otherwise the local control plane is brought
// up (hack/local-cluster.sh up: the real OpenShift components; the first time
// builds them, which takes minutes; its progress is printed) and left running
// afterwards, so the next run reuses it, unless LBC_TEARDOWN=1.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export const CLUSTER_ENV_KEYS = ['KUBECONFIG', 'KUBECTL', 'OC', 'LOCAL_REGISTRY', 'INTERNAL_REGISTRY', 'LBC_NAMESPACE', 'LBC_NODE_NAME', 'LBC_COREOS_IMAGE'] as const;
export type ClusterEnv = Record<(typeof CLUSTER_ENV_KEYS)[number], string>;

declare module 'vitest' {
  export interface ProvidedContext {
    clusterEnv: ClusterEnv;
    /** Every variable `hack/local-cluster.sh env` printed (buildah storage too); empty with an external KUBECONFIG. */
    localClusterEnv: Record<string, string>;
  }
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'hack', 'local-cluster.sh');

/** Parses the `export NAME='value'` lines that `hack/local-cluster.sh env` prints. */
export function parseEnvExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)='([^']*)'$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function runUp(): Promise<void> {
  return new Promise((resolve, reject) => {
    console.log(`[global-setup] bringing up the local control plane: ${SCRIPT} up`);
    // Progress goes straight to the terminal; the first run builds for minutes.
    const child = spawn(SCRIPT, ['up'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`hack/local-cluster.sh up failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/**
 * The product's CRD and the operator's RBAC (manifests/ but the Deployment) in
 * the default operator namespace, and a file with a token of its
 * ServiceAccount: an operator a test runs on the admin's credentials uses it
 * for the integrated registry, which accepts only ServiceAccount/user tokens.
 */
function installOperatorRbac(): string {
  const kubectl = process.env.KUBECTL || 'kubectl';
  const run = (args: string[]) => execFileSync(kubectl, args, { cwd: ROOT, encoding: 'utf8', env: process.env });
  run(['apply', '--server-side', '--force-conflicts', '--field-manager=lbc-tests', '-f', path.join(ROOT, 'crds')]);
  for (const f of readdirSync(path.join(ROOT, 'manifests')).filter((n) => n.endsWith('.yaml') && !/deployment|kustomization/.test(n)).sort()) {
    run(['apply', '--server-side', '--force-conflicts', '--field-manager=lbc-tests', '-f', path.join(ROOT, 'manifests', f)]);
  }
  const ns = process.env.LBC_NAMESPACE || 'openshift-machine-config-operator';
  const token = run(['create', 'token', 'layered-build-controller', '-n', ns, '--duration=24h']).trim();
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lbc-token-')), 'token');
  writeFileSync(file, token, { mode: 0o600 });
  return file;
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  let local: Record<string, string> = {};
  let teardown: (() => void) | undefined;
  if (process.env.KUBECONFIG) {
    console.log(`[global-setup] using the cluster in KUBECONFIG=${process.env.KUBECONFIG}`);
    // `eval "$(hack/local-cluster.sh env)"` of another checkout's local cluster: its variables count as local.
    if (process.env.LBC_STATE_DIR) {
      for (const [k, v] of Object.entries(process.env)) {
        if (v !== undefined && /^(LBC_|LOCAL_REGISTRY|INTERNAL_REGISTRY|KUBECTL|OC|CONTAINERS_|STORAGE_DRIVER|BUILDAH_)/.test(k)) local[k] = v;
      }
    }
  } else {
    await runUp();
    local = parseEnvExports(execFileSync(SCRIPT, ['env'], { cwd: ROOT, encoding: 'utf8' }));
    Object.assign(process.env, local);
    if (process.env.LBC_TEARDOWN === '1') {
      teardown = () => {
        execFileSync(SCRIPT, ['down'], { cwd: ROOT, stdio: 'inherit' });
      };
    }
  }
  local.LBC_TEST_REGISTRY_TOKEN_FILE = installOperatorRbac();
  const env = {} as ClusterEnv;
  for (const key of CLUSTER_ENV_KEYS) {
    env[key] = process.env[key] ?? '';
  }
  env.LBC_NAMESPACE ||= 'openshift-machine-config-operator';
  env.KUBECTL ||= 'kubectl';
  env.OC ||= 'oc';
  if (!env.LOCAL_REGISTRY) {
    console.warn('[global-setup] LOCAL_REGISTRY is not set: tests that need the registry will fail');
  }
  project.provide('clusterEnv', env);
  project.provide('localClusterEnv', local);
  return teardown;
}
