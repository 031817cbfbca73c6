// The manifests on the real API server (RBAC authorization on), and the real
// operator process running under its ServiceAccount's token through the first
// setup of a pool; then what that token must not do.
//
// Isolation from anything else using the shared cluster: the manifests are
// installed into a namespace of their own (cluster-scoped names suffixed),
// and the pool opts in with a label of its own (--opt-in-label), so no other
// operator running against the cluster touches it. The operator's image is
// not built for these tests, so the Deployment is checked with a server-side
// dry run; the operator runs as a local process with the ServiceAccount's
// bearer token instead.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubectl, objectApi, waitFor } from '../harness/cluster.ts';
import {
  ROOT,
  applyManifests,
  builds,
  makePool,
  nodeBinary,
  readPool,
  renderManifests,
  installPrivately,
  OPERATOR_SERVICE_ACCOUNT,
  startOperator,
  uniqueName,
  waitForPoolAnnotation,
  type OperatorProcess,
  type PrivateInstall,
  type TestPool,
} from '../harness/operator.ts';
import { ANNOTATION_NEWEST_IMAGE, ANNOTATION_NEWEST_IMAGE_CONFIG, ANNOTATION_NEWEST_IMAGE_SOURCE } from '../../src/plan/names.ts';

const SA = OPERATOR_SERVICE_ACCOUNT;
const PUSH_SECRET = 'layered-build-controller-push';
/** The push secret's password: a token of the operator's ServiceAccount (all the integrated registry accepts); never to show up in a log line. */
let PUSH_PASSWORD = '';
const ns = uniqueName('lbc-rbac');
const optInLabel = `test.layering.mco.dev/${ns}`;

let install: PrivateInstall | undefined;
let saKubeconfig: string;
let saUser: string;
let op: OperatorProcess | undefined;
let pool: TestPool | undefined;
let image = '';

/** kubectl with the ServiceAccount's kubeconfig (and nothing of the admin's). */
function asOperator(args: string[]) {
  return kubectl(['--kubeconfig', saKubeconfig, ...args], { allowFailure: true });
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nodeBinary(), [path.join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, KUBECONFIG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  // The operator's manifests, in a namespace of their own. The Deployment
  // cannot run here: it is dry-run checked in the test below.
  install = await installPrivately(ns);
  // A push secret for the integrated registry, as an admin makes one: its password is a
  // ServiceAccount token (the integrated registry takes no other credentials).
  PUSH_PASSWORD = (await kubectl(['create', 'token', SA, '-n', ns, '--duration=2h'])).stdout.trim();
  const dockerconfigjson = JSON.stringify({ auths: { [clusterEnv().INTERNAL_REGISTRY]: { username: 'robot', password: PUSH_PASSWORD, auth: Buffer.from(`robot:${PUSH_PASSWORD}`).toString('base64') } } });
  await applyManifests([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: PUSH_SECRET, namespace: ns }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': dockerconfigjson } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'someone-elses', namespace: ns }, stringData: { password: 'not-for-the-operator' } },
  ]);
  saKubeconfig = install.kubeconfig;
  saUser = install.user;
  op = startOperator({
    name: 'operator-as-sa',
    kubeconfig: saKubeconfig,
    namespace: ns,
    optInLabel,
    leaderElect: true,
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
    args: ['--push-secret', PUSH_SECRET],
  });
  await op.waitForLog('leading: reconciling pools', 90_000);
}, 180_000);

afterAll(async () => {
  const exit = await op?.stop();
  if (exit && exit.code !== 0) console.log(`[rbac] operator exited ${JSON.stringify(exit)}; last lines:\n${op?.tail(30)}`);
  await pool?.cleanup();
  await install?.cleanup();
}, 120_000);

describe('manifests', () => {
  it('kubectl apply of crds/ and manifests/ succeeds (the Deployment as a server-side dry run)', async () => {
    const applied = (await kubectl(['apply', '-f', path.join(ROOT, 'crds')])).stdout;
    expect(applied).toMatch(/customresourcedefinition\.apiextensions\.k8s\.io\/layeredpools\.layering\.mco\.dev (created|configured|unchanged)/);

    // Everything as shipped, the way the README installs it (the kustomization), checked by
    // the API server (admission, schemas, RBAC rules).
    const dry = await kubectl(['apply', '--dry-run=server', '-k', path.join(ROOT, 'manifests')]);
    for (const what of ['namespace/openshift-machine-config-operator', 'serviceaccount/layered-build-controller', 'clusterrole.rbac.authorization.k8s.io/layered-build-controller', 'clusterrolebinding.rbac.authorization.k8s.io/layered-build-controller', 'role.rbac.authorization.k8s.io/layered-build-controller', 'rolebinding.rbac.authorization.k8s.io/layered-build-controller', 'role.rbac.authorization.k8s.io/layered-build-controller-events', 'rolebinding.rbac.authorization.k8s.io/layered-build-controller-events', 'deployment.apps/layered-build-controller', 'service/layered-build-controller-metrics']) {
      expect(dry.stdout).toContain(what);
    }
    // For real, all but the Deployment (no pods can run here).
    const files = readdirSync(path.join(ROOT, 'manifests')).filter((f) => f.endsWith('.yaml') && !f.includes('deployment') && f !== 'kustomization.yaml');
    const real = await kubectl(['apply', ...files.flatMap((f) => ['-f', path.join(ROOT, 'manifests', f)])]);
    expect(real.stdout).toMatch(/role\.rbac\.authorization\.k8s\.io\/layered-build-controller (created|configured|unchanged)/);

    // The ServiceMonitor and PrometheusRule, given their CRDs (stand-ins unless the cluster has the real ones).
    for (const crd of ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
      const hasCrd = (await kubectl(['get', 'crd', crd], { allowFailure: true })).code === 0;
      if (!hasCrd) {
        await kubectl(['apply', '--server-side', '--field-manager=lbc-tests', '-f', path.join(ROOT, `test/integration/fixtures/${crd}.yaml`)]);
        await kubectl(['wait', '--for=condition=established', '--timeout=60s', `crd/${crd}`]);
      }
    }
    const sm = await kubectl(['apply', '-k', path.join(ROOT, 'manifests', 'monitoring')]);
    expect(sm.stdout).toMatch(/servicemonitor\.monitoring\.coreos\.com\/layered-build-controller (created|configured|unchanged)/);
    expect(sm.stdout).toMatch(/prometheusrule\.monitoring\.coreos\.com\/layered-build-controller (created|configured|unchanged)/);
  });

  it('the Deployment is hardened as designed: 2 replicas, probes, non-root, read-only root, no capabilities', async () => {
    const dep = renderManifests({ namespace: ns }).find((d) => d.kind === 'Deployment') as never as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Record<string, never>[] } } };
    };
    // The API server accepts it in the test namespace too (server-side dry run, defaults applied).
    const dry = await kubectl(['apply', '--server-side', '--dry-run=server', '-o', 'json', '-f', '-'], { input: yaml.dump(dep) });
    const served = JSON.parse(dry.stdout) as typeof dep;
    expect(served.spec.replicas).toBe(2);
    const pod = served.spec.template.spec;
    expect(pod.serviceAccountName).toBe(SA);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0] as unknown as {
      securityContext: Record<string, unknown>;
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
      resources: { requests: Record<string, string>; limits: Record<string, string> };
      env: { name: string; value?: string }[];
      ports: { name: string; containerPort: number }[];
    };
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'probes' });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'probes' });
    expect(c.ports).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'probes', containerPort: 8081 }), expect.objectContaining({ name: 'metrics', containerPort: 8080 })]));
    expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(c.resources.limits.memory).toBeDefined();
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ LBC_LEADER_ELECT: 'true', LBC_PROBE_ADDR: '0.0.0.0:8081', LBC_METRICS_ADDR: '0.0.0.0:8080' });
    // The integrated registry takes the pod's ServiceAccount token: no push secret by default.
    expect(env.LBC_PUSH_SECRET).toBeUndefined();
    // The pod template meets the `restricted` Pod Security Standard: the API server's
    // PodSecurity admission warns about a workload that would violate it (checked to
    // warn on a privileged variant, so the silence means something).
    await kubectl(['label', '--overwrite', 'namespace', ns, 'pod-security.kubernetes.io/warn=restricted']);
    const checked = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: yaml.dump(dep) });
    expect(checked.stderr).not.toMatch(/PodSecurity/);
    const bad = JSON.parse(JSON.stringify(dep)) as typeof dep;
    (bad.spec.template.spec.containers[0] as unknown as { securityContext: Record<string, unknown> }).securityContext = { privileged: true };
    const warned = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: yaml.dump(bad) });
    expect(warned.stderr).toMatch(/would violate PodSecurity "restricted:latest"/);
    // Every LBC_ variable it sets is one the operator reads.
    const { SETTINGS } = await import('../../src/config/config.ts');
    const known = new Set(Object.values(SETTINGS).map((s) => s.env));
    for (const name of Object.keys(env)) expect(known, name).toContain(name);
  });
});

describe('the operator under its ServiceAccount', () => {
  it('runs first setup of a pool: the pool gets its image, exactly one content Build', { timeout: 420_000 }, async () => {
    expect(op).toBeDefined();
    pool = await makePool({ optInLabel });
    image = await waitForPoolAnnotation(pool.pool, ANNOTATION_NEWEST_IMAGE, 360_000);
    expect(image).toMatch(new RegExp(`/${ns}/${pool.pool}-mco-content@sha256:[0-9a-f]{64}$`));
    const annotations = (await readPool(pool.pool))!.metadata.annotations!;
    expect(annotations[ANNOTATION_NEWEST_IMAGE_CONFIG]).toBe(pool.machineConfig);
    expect(annotations[ANNOTATION_NEWEST_IMAGE_SOURCE]).toBe('mco-content');
    const contentBuilds = await builds(ns, pool.pool, 'content');
    expect(contentBuilds.map((b) => b.name)).toHaveLength(1);
    expect(contentBuilds[0]!.phase).toBe('Complete');
    // The writes were the ServiceAccount's: the pool's annotations are owned by the operator's field manager.
    const managed = ((await readPool(pool.pool))!.metadata as { managedFields?: { manager: string; fieldsV1?: unknown }[] }).managedFields ?? [];
    expect(managed.some((m) => m.manager === 'layered-build-controller' && JSON.stringify(m.fieldsV1).includes(ANNOTATION_NEWEST_IMAGE))).toBe(true);
    // Its Events about the pool were recorded (in `default`, as for any cluster-scoped object).
    const reasons = await waitFor(
      async () => {
        const list = await objectApi().list('v1', 'Event', 'default', undefined, undefined, undefined, `involvedObject.name=${pool!.pool}`);
        const rs = new Set((list.items as { reason?: string; source?: { component?: string } }[]).filter((e) => e.source?.component === 'layered-build-controller').map((e) => e.reason));
        return ['BuildStarted', 'BuildSucceeded', 'ImageHandedOff'].every((r) => rs.has(r)) ? rs : undefined;
      },
      { timeoutMs: 30_000, what: 'Events BuildStarted, BuildSucceeded, ImageHandedOff about the pool' },
    );
    expect(reasons.size).toBeGreaterThanOrEqual(3);
    // It ran with no permission error on the way.
    const forbidden = op!.logs.filter((l) => JSON.stringify(l).match(/HTTP 403|forbidden/i));
    expect(forbidden, JSON.stringify(forbidden.slice(0, 3))).toEqual([]);
    // It read the push secret (the pool is not waiting for it) and never logged its contents.
    expect(JSON.stringify(op!.logs)).not.toContain(PUSH_PASSWORD);
    expect(JSON.stringify(op!.logs)).not.toContain(Buffer.from(`robot:${PUSH_PASSWORD}`).toString('base64'));
  });

  it('is refused what it must not do', async () => {
    expect(saUser).toBe(`system:serviceaccount:${ns}:${SA}`);
    const refusals: [string, string[]][] = [
      ['list Secrets in its namespace', ['get', 'secrets', '-n', ns]],
      ['read another Secret in its namespace', ['get', 'secret', 'someone-elses', '-n', ns]],
      ['read a Secret in another namespace', ['get', 'secret', PUSH_SECRET, '-n', 'default']],
      ['list Secrets cluster-wide', ['get', 'secrets', '-A']],
      ['delete a pool', ['delete', 'machineconfigpool', pool?.pool ?? 'x', '--wait=false']],
      ['create a ClusterRole', ['create', 'clusterrole', `${ns}-escalate`, '--verb=*', '--resource=*']],
      ['bind itself cluster-admin', ['create', 'clusterrolebinding', `${ns}-escalate`, '--clusterrole=cluster-admin', `--serviceaccount=${ns}:${SA}`]],
      // (It may delete Builds and ImageStream tags in its namespace: retention. Not BuildConfigs, streams or Nodes.)
      ['delete a BuildConfig', ['delete', 'buildconfigs.build.openshift.io', '--all', '-n', ns, '--wait=false']],
      ['delete an ImageStream', ['delete', 'imagestreams.image.openshift.io', '--all', '-n', ns, '--wait=false']],
      ['read a Node', ['get', 'node', 'x']],
      ['change a MachineConfig', ['label', 'machineconfig', pool?.machineConfig ?? 'x', 'evil=true']],
      // (It may create, patch and delete MachineConfigs: the hand-off, 99-<pool>-layered-image. Never update one.)
      ['replace a MachineConfig', ['replace', '-f', '-']],
      ['create a Deployment in its namespace', ['create', 'deployment', 'x', '--image=busybox', '-n', ns]],
      ['create pods in its namespace', ['run', 'x', '--image=busybox', '-n', ns, '--restart=Never']],
      ['list ImageStreams in another namespace', ['get', 'imagestreams.image.openshift.io', '-n', 'default']],
      ['read Events in default (it may only create them)', ['get', 'events', '-n', 'default']],
    ];
    const allowed: string[] = [];
    for (const [what, args] of refusals) {
      const r =
        what === 'replace a MachineConfig'
          ? await kubectl(['--kubeconfig', saKubeconfig, ...args], { allowFailure: true, input: yaml.dump({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', metadata: { name: pool?.machineConfig ?? 'x' }, spec: {} }) })
          : await asOperator(args);
      if (r.code === 0 || !/forbidden/i.test(r.stderr)) allowed.push(`${what}: exit ${r.code} ${r.stderr.trim().slice(0, 200)}`);
    }
    expect(allowed).toEqual([]);
    // What it may do, for contrast: read its own push secret by name.
    const own = await asOperator(['get', 'secret', PUSH_SECRET, '-n', ns, '-o', 'name']);
    expect(own.stdout.trim()).toBe(`secret/${PUSH_SECRET}`);
    // The pool is still there.
    expect(await readPool(pool!.pool)).toBeDefined();
  });

  it('`status` and `status -o json` show the pool', { timeout: 120_000 }, async () => {
    const lp = await waitFor(
      async () => {
        const o = (await objectApi().read({ apiVersion: 'layering.mco.dev/v1alpha1', kind: 'LayeredPool', metadata: { name: pool!.pool, namespace: ns } })) as { status?: { phase?: string; image?: string } };
        return o.status?.phase === 'Ready' && o.status.image === image ? o : undefined;
      },
      { timeoutMs: 60_000, what: 'LayeredPool status Ready' },
    );
    expect(lp.status?.image).toBe(image);
    const kubeconfig = clusterEnv().KUBECONFIG;

    const json = await cli(['status', '-n', ns, '-o', 'json', '--kubeconfig', kubeconfig]);
    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout) as Record<string, string>[];
    const row = rows.find((r) => r.pool === pool!.pool);
    // The rendered config shown is the pool's current one: the one the image was
    // built from, or, once the hand-off MachineConfig is in, its re-render.
    const renderedNow = ((await readPool(pool!.pool))?.spec?.configuration as { name?: string } | undefined)?.name;
    const rendered = [pool!.machineConfig, renderedNow];
    expect(row).toMatchObject({ pool: pool!.pool, phase: 'Ready', image, imageSource: 'mco-content', baseSource: 'coreos' });
    expect(rendered).toContain(row!.renderedConfig);
    expect(row!.lastBuild).toMatch(new RegExp(`^${pool!.pool}-build-mco-content-[0-9a-f]{10}-\\d+$`));

    const table = await cli(['status', '-n', ns, '--kubeconfig', kubeconfig]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^POOL\s+PHASE\s+BASE \(SOURCE\)/);
    const line = lines.find((l) => l.startsWith(`${pool!.pool} `));
    expect(line, table.stdout).toBeDefined();
    expect(line).toMatch(/\bReady\b/);
    expect(line).toContain(`${image.replace(/(@sha256:[0-9a-f]{12})[0-9a-f]{52}$/, '$1')} (mco-content)`);
    // MCC's re-render can land between the two calls: read the pool's again after the table.
    rendered.push(((await readPool(pool!.pool))?.spec?.configuration as { name?: string } | undefined)?.name);
    expect(rendered.some((r) => r !== undefined && line!.includes(r)), `${line}\nnot one of ${rendered.join(', ')}`).toBe(true);

    // The operator's own token can read them too (it lists its status objects).
    const asSa = await cli(['status', '-n', ns, '-o', 'json', '--kubeconfig', saKubeconfig]);
    expect(asSa.code, asSa.stderr).toBe(0);
    expect((JSON.parse(asSa.stdout) as { pool: string }[]).map((r) => r.pool)).toContain(pool!.pool);

    // Still exactly one content build once everything settled.
    expect(await builds(ns, pool!.pool, 'content')).toHaveLength(1);
  });
});

// The README lists every rule of the roles.
describe('manifests/README.md', () => {
  it('explains every resource the roles grant', () => {
    const readme = readFileSync(path.join(ROOT, 'manifests', 'README.md'), 'utf8');
    for (const d of renderManifests({ namespace: ns })) {
      if (d.kind !== 'Role' && d.kind !== 'ClusterRole') continue;
      for (const rule of (d as { rules: { resources: string[] }[] }).rules) for (const r of rule.resources) expect(readme, r).toContain(`\`${r}\``);
    }
  });
});
