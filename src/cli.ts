#!/usr/bin/env node
// layered-build-controller: the operator (`run`), a dry run an admin can read
// (`render`), the admin's table of layered pools (`status`), retention (`prune`),
// and the way back to a pool's previous image (`rollback`).
import { Command, Option } from 'commander';
import * as yaml from 'js-yaml';
import type { Config } from './config/config.ts';
import { ConfigError, DEFAULTS, SETTINGS, loadConfig } from './config/config.ts';
import { Manager } from './controller/manager.ts';
import { createMetrics } from './server/metrics.ts';
import { kubeTarget, loadKubeConfig, statusCode } from './kube/client.ts';
import { ConfigSchema } from './config/config.ts';
import { LayeredPoolSchema, MachineConfigPoolSchema, RESOURCES } from './kube/types.ts';
import { isOptedIn } from './plan/plan.ts';
import { describeFailure, ignoreClosedStdio, safeWrite, UsageError } from './util/failure.ts';
import { rows, formatTable } from './status/table.ts';
import { formatExplain } from './status/explain.ts';
import { formatPrune, formatPruneResults } from './status/prune.ts';
import { pruneOnce } from './kube/prune.ts';
import { KubeWriter, serviceAccountToken } from './kube/client.ts';
import { RegistryClient } from './registry/client.ts';
import { ANNOTATION_ROLLBACK_TO, FIELD_MANAGER } from './plan/names.ts';
import { readFileSync } from 'node:fs';
import { createLogger, flushLogs } from './util/log.ts';
import type { Plan } from './plan/plan.ts';
import type { KubeObject } from './plan/snapshot.ts';
import * as k8s from '@kubernetes/client-node';

function addConfigOptions(cmd: Command): Command {
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Config, (typeof SETTINGS)[keyof Config]][]) {
    const def = DEFAULTS[key];
    const isBool = typeof def === 'boolean';
    const short = key === 'namespace' ? '-n, ' : '';
    const opt = new Option(isBool ? `${short}--${s.flag} [bool]` : `${short}--${s.flag} <value>`, `${s.help} (env ${s.env}${def !== undefined ? `, default ${JSON.stringify(def)}` : ''})`);
    cmd.addOption(opt);
  }
  cmd.option('--config <file>', 'YAML/JSON file of settings (env LBC_CONFIG_FILE)');
  cmd.option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)');
  return cmd;
}

function configFrom(opts: Record<string, unknown>): Config {
  const flags: Partial<Record<keyof Config, unknown>> = {};
  for (const key of Object.keys(SETTINGS) as (keyof Config)[]) {
    const camel = SETTINGS[key].flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[camel];
    if (v !== undefined) flags[key] = v === true ? 'true' : v;
  }
  return loadConfig({ flags, env: process.env, ...(typeof opts.config === 'string' ? { file: opts.config } : {}) });
}

/** One line on stderr, exit 2 for bad input and 1 for a failure (src/util/failure.ts). */
function fail(e: unknown, kc?: k8s.KubeConfig): never {
  const f = describeFailure(e, kc ? kubeTarget(kc) : {});
  safeWrite(process.stderr, `layered-build-controller: ${f.line}\n`);
  process.exit(f.exitCode);
}

type PoolState = 'missing' | 'not-opted-in' | 'opted-in';

/** Whether the MachineConfigPool exists and is opted in, read from the API server (UsageError when it does not exist). */
async function poolState(kc: k8s.KubeConfig, name: string, optInLabel: string): Promise<PoolState> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const r = RESOURCES.machineConfigPool;
  try {
    const raw: unknown = await api.getClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name });
    const pool = MachineConfigPoolSchema.safeParse(raw);
    return pool.success && isOptedIn(pool.data.metadata.labels, optInLabel) ? 'opted-in' : 'not-opted-in';
  } catch (e) {
    if (statusCode(e) !== 404) throw e;
  }
  let names: string[] = [];
  try {
    const list = (await api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })) as { items?: { metadata?: { name?: string } }[] };
    names = (list.items ?? []).flatMap((i) => (i.metadata?.name ? [i.metadata.name] : []));
  } catch {
    /* the name alone is enough */
  }
  throw new UsageError(`MachineConfigPool ${JSON.stringify(name)} does not exist (${names.length ? `pools: ${names.map((n) => JSON.stringify(n)).join(', ')}` : 'no pools found'})`);
}

/** `-n` of the commands that read the status objects: a DNS-1123 label, else bad input (exit 2). */
function checkNamespace(ns: string): void {
  if (!ConfigSchema.shape.namespace.safeParse(ns).success) {
    throw new ConfigError(`-n / LBC_NAMESPACE = ${JSON.stringify(ns)}: must be a DNS-1123 label (lowercase letters, digits and "-")`);
  }
}

function notOptedInText(name: string, optInLabel: string): string {
  return `MachineConfigPool ${JSON.stringify(name)} is not managed by this operator: it has no label ${optInLabel} (to opt it in: oc label mcp/${name} ${optInLabel}=)`;
}

function noStatusText(name: string, namespace: string): string {
  return `MachineConfigPool ${JSON.stringify(name)} is opted in but has no status object in namespace ${namespace} yet: is the operator running (and is this its namespace, -n)?`;
}

/** A command that names a pool works only on a pool the operator manages: bad input (exit 2) otherwise, with the opt-in command. */
async function requireManaged(kc: k8s.KubeConfig, name: string, optInLabel: string): Promise<void> {
  if ((await poolState(kc, name, optInLabel)) === 'not-opted-in') throw new UsageError(notOptedInText(name, optInLabel));
}

// A usage error (a missing or unknown option) is bad input: one line on stderr, exit 2, as every
// other bad input of this CLI; `--help` still prints the help and exits 0.
const program = new Command('layered-build-controller')
  .description('Builds layered OS images for MachineConfigPools that opt in, and hands each pool its image by digest.')
  .configureOutput({ outputError: (text, write) => write(`layered-build-controller: ${text.replace(/^error: /, '').trimEnd()} (see --help)\n`) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

addConfigOptions(program.command('run').description('run the operator against the current kubeconfig or in-cluster')).action(async (opts: Record<string, unknown>) => {
  // A closed stdout/stderr (the parent went away) must not crash the process or keep it from stopping.
  ignoreClosedStdio();
  let config: Config;
  let kc: k8s.KubeConfig;
  try {
    config = configFrom(opts);
    kc = loadKubeConfig(typeof opts.kubeconfig === 'string' ? opts.kubeconfig : undefined);
  } catch (e) {
    fail(e);
  }
  const log = createLogger(config.logLevel);
  let manager: Manager;
  try {
    manager = new Manager({ config, kubeConfig: kc, log });
  } catch (e) {
    fail(e, kc);
  }
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      void flushLogs().then(() => process.exit(1));
      return;
    }
    // The drain (work in flight, releasing the Lease) is bounded: an API server
    // that does not answer must not keep the process alive until SIGKILL.
    setTimeout(() => {
      log.error({ signal: sig, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown did not finish within --shutdown-timeout-ms: exiting anyway');
      void flushLogs().then(() => process.exit(1));
    }, config.shutdownTimeoutMs).unref();
    log.info({ signal: sig, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'stopping');
    abort.abort();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('unhandledRejection', (e) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'unhandled rejection'));
  log.info({ namespace: config.namespace, registry: config.registry, leaderElect: config.leaderElect }, 'starting');
  try {
    await manager.start(abort.signal);
    await flushLogs();
    process.exit(0);
  } catch (e) {
    const f = describeFailure(e, kubeTarget(kc));
    log.fatal({ err: f.line }, `operator failed: ${f.line}`);
    await flushLogs();
    process.exit(f.exitCode);
  }
});

addConfigOptions(
  program
    .command('render')
    .description('print, as YAML, every object the operator would create or change for a pool, and the Dockerfile; writes nothing')
    .requiredOption('--pool <name>', 'the MachineConfigPool'),
).action(async (opts: Record<string, unknown>) => {
  let kc: k8s.KubeConfig | undefined;
  try {
    const config = configFrom({ ...opts, leaderElect: 'false' });
    const log = createLogger('silent');
    kc = loadKubeConfig(typeof opts.kubeconfig === 'string' ? opts.kubeconfig : undefined);
    const pool = String(opts.pool);
    // A pool that does not exist or is not opted in: exit 2 before syncing anything.
    await requireManaged(kc, pool, config.optInLabel);
    const manager = new Manager({ config, kubeConfig: kc, log, metrics: createMetrics({ processMetrics: false }) });
    const { plan: p, changes } = await manager.renderOnce(pool);
    safeWrite(process.stdout, renderPlanYaml(p, changes));
    process.exit(0);
  } catch (e) {
    fail(e, kc);
  }
});

program
  .command('status')
  .description('a table of the layered pools, from their status objects')
  .option('-n, --namespace <ns>', 'the operator namespace', process.env.LBC_NAMESPACE ?? DEFAULTS.namespace)
  .option('-o, --output <format>', 'table or json', 'table')
  .option('--kubeconfig <file>', 'kubeconfig to use')
  .option('--explain <pool>', "the decision chain of the pool's last reconcile: inputs, why it waits, builds, is degraded or idle, and what to do")
  .option('--pool <name>', 'only this pool (exits 2 when the pool does not exist or is not opted in)')
  .action(async (opts: { namespace: string; output: string; kubeconfig?: string; explain?: string; pool?: string }) => {
    let kc: k8s.KubeConfig | undefined;
    try {
      if (!['table', 'json'].includes(opts.output)) throw new ConfigError(`-o ${JSON.stringify(opts.output)}: must be table or json`);
      checkNamespace(opts.namespace);
      kc = loadKubeConfig(opts.kubeconfig);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const r = RESOURCES.layeredPool;
      const label = process.env.LBC_OPT_IN_LABEL || DEFAULTS.optInLabel;
      if (opts.explain !== undefined) {
        const obj = await api.getNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural, name: opts.explain }).catch(async (e: unknown) => {
          if (statusCode(e) !== 404) throw e;
          await requireManaged(kc!, opts.explain!, label);
          throw new Error(noStatusText(opts.explain!, opts.namespace));
        });
        const lp = LayeredPoolSchema.parse(obj);
        if (opts.output === 'json') process.stdout.write(JSON.stringify({ pool: opts.explain, phase: lp.status?.phase, explain: lp.status?.explain, lastBuild: lp.status?.history?.[0] }, null, 2) + '\n');
        else process.stdout.write(formatExplain(lp, Date.now()));
        return;
      }
      const list = (await api.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural })) as { items?: unknown[] };
      const pools = (list.items ?? []).flatMap((i) => {
        const parsed = LayeredPoolSchema.safeParse(i);
        return parsed.success && (opts.pool === undefined || parsed.data.metadata.name === opts.pool) ? [parsed.data] : [];
      });
      if (opts.pool !== undefined && pools.length === 0) {
        await requireManaged(kc, opts.pool, label);
        throw new Error(noStatusText(opts.pool, opts.namespace));
      }
      const rs = rows(pools, Date.now());
      if (opts.output === 'json') process.stdout.write(JSON.stringify(rs, null, 2) + '\n');
      else if (rs.length === 0) process.stdout.write(`no layered pools in namespace ${opts.namespace}\n`);
      else process.stdout.write(formatTable(rs));
    } catch (e) {
      fail(e, kc);
    }
  });

addConfigOptions(
  program
    .command('prune')
    .description("retention, in-use aware: removes from the pools' image streams (and Builds, and an external registry) what the decision says goes, and prints each removal and what stays and why")
    .option('--dry-run', 'print the decision and what would be deleted; delete nothing')
    .option('--pool <name>', 'only this pool (exits 2 when it does not exist)'),
).action(async (opts: Record<string, unknown>) => {
  let kc: k8s.KubeConfig | undefined;
  try {
    const config = configFrom({ ...opts, leaderElect: 'false' });
    kc = loadKubeConfig(typeof opts.kubeconfig === 'string' ? opts.kubeconfig : undefined);
    const pool = typeof opts.pool === 'string' ? opts.pool : undefined;
    if (pool !== undefined) await requireManaged(kc, pool, config.optInLabel);
    const log = createLogger('silent');
    const settings = { namespace: config.namespace, registry: config.registry, keepImages: config.keepImages, keepForMs: config.keepForMs };
    const dryRun = opts.dryRun === true;
    const writer = new KubeWriter(kc, config.namespace, `${FIELD_MANAGER}-prune`);
    const secret = dryRun || !config.pushSecret ? undefined : await readPushSecret(kc, config.namespace, config.pushSecret);
    const token = serviceAccountToken(kc);
    const run = await pruneOnce(kc, settings, {
      dryRun,
      pool,
      writer,
      log,
      registryClient: () =>
        new RegistryClient({
          registry: config.registry,
          insecure: config.registryInsecure,
          ...(config.caBundleFile ? { caBundlePem: readFileSync(config.caBundleFile, 'utf8') } : {}),
          ...(secret ? { dockerConfigJson: secret } : {}),
          ...(!secret && token ? { serviceAccountToken: token } : {}),
        }),
    });
    if (dryRun) {
      safeWrite(process.stdout, formatPrune(run.plans, config.namespace));
      process.exit(0);
    }
    safeWrite(process.stdout, formatPruneResults(run.plans, run.results, config.namespace));
    const failed = run.results.filter((r) => r.outcome === 'failed');
    if (failed.length) {
      safeWrite(process.stderr, `layered-build-controller: prune: ${failed.length} of ${run.results.length} removals failed (first: ${failed[0]!.kind} ${failed[0]!.name}: ${failed[0]!.message})\n`);
      process.exit(1);
    }
    process.exit(0);
  } catch (e) {
    fail(e, kc);
  }
});

program
  .command('rollback')
  .description(`hand the pool its previous image again in one step (the annotation ${ANNOTATION_ROLLBACK_TO} on the pool, which the operator acts on); --undo gives it its newest image back`)
  .requiredOption('--pool <name>', 'the MachineConfigPool (exits 2 when it does not exist, is not opted in or has no previous image)')
  .option('--undo', `remove the rollback (the annotation ${ANNOTATION_ROLLBACK_TO}): the pool gets its newest checked image again`)
  .option('-n, --namespace <ns>', 'the operator namespace (where the pool status object is)', process.env.LBC_NAMESPACE ?? DEFAULTS.namespace)
  .option('--kubeconfig <file>', 'kubeconfig to use')
  .action(async (opts: { pool: string; undo?: boolean; namespace: string; kubeconfig?: string }) => {
    let kc: k8s.KubeConfig | undefined;
    try {
      checkNamespace(opts.namespace);
      kc = loadKubeConfig(opts.kubeconfig);
      const pool = opts.pool;
      await requireManaged(kc, pool, process.env.LBC_OPT_IN_LABEL || DEFAULTS.optInLabel);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const mcp = RESOURCES.machineConfigPool;
      const annotate = (value: string | null) =>
        api.patchClusterCustomObject(
          { group: mcp.group, version: mcp.version, plural: mcp.plural, name: pool, body: { metadata: { annotations: { [ANNOTATION_ROLLBACK_TO]: value } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      if (opts.undo) {
        await annotate(null);
        safeWrite(process.stdout, `pool ${pool}: rollback removed; the operator hands off its newest checked image again\n`);
        return;
      }
      const r = RESOURCES.layeredPool;
      const obj = await api.getNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural, name: pool }).catch((e: unknown) => {
        if (statusCode(e) === 404) throw new UsageError(noStatusText(pool, opts.namespace));
        throw e;
      });
      const st = LayeredPoolSchema.parse(obj).status;
      const to = st?.previousImage;
      if (!to) throw new UsageError(`pool ${pool} has no previous image recorded (status.previousImage): nothing to roll back to`);
      await annotate(to);
      safeWrite(process.stdout, `pool ${pool}: rolling back to ${to} (from ${st?.image ?? '-'}); the operator checks it in the registry and hands it off; undo: layered-build-controller rollback --pool ${pool} --undo\n`);
    } catch (e) {
      fail(e, kc);
    }
  });

/** The push secret's docker config (for registry deletes by the CLI), read with the admin's rights; undefined when absent. */
async function readPushSecret(kc: k8s.KubeConfig, namespace: string, name: string): Promise<string | undefined> {
  try {
    const s = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name, namespace });
    const v = s.data?.['.dockerconfigjson'] ?? s.data?.['.dockercfg'];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  } catch (e) {
    if (statusCode(e) === 404) return undefined;
    throw e;
  }
}

export function renderPlanYaml(p: Plan, changes: (o: KubeObject) => boolean = () => true): string {
  const lines: string[] = [`# pool ${p.pool}: ${p.managed ? 'managed' : 'not managed (not opted in, or gone): nothing is written'}`];
  if (p.push) lines.push(`# push rendered-config image ${p.push.repository}@${p.push.image.manifestDigest} (${p.push.image.size} bytes) for ${p.push.renderedConfig}, by tag: ${p.push.tags.join(', ')}`);
  for (const r of p.importRequests) lines.push(`# re-request the import of ImageStream ${r.metadata.name} (ImageStreamImport)`);
  for (const c of p.cancelBuilds) lines.push(`# cancel stale build ${c}`);
  const docs: string[] = [];
  const doc = (what: string, body: unknown) => docs.push(`# ${what}\n${yaml.dump(body, { lineWidth: 160, noRefs: true })}`);
  if (p.push?.stream) doc(`${p.push.stream.kind} ${p.push.stream.metadata.name}: server-side apply: ${changes(p.push.stream) ? 'WOULD CHANGE' : 'already as desired, nothing sent'} (after the push)`, p.push.stream);
  for (const o of p.apply) doc(`${o.kind} ${o.metadata.name}: server-side apply: ${changes(o) ? 'WOULD CHANGE' : 'already as desired, nothing sent'}`, o);
  for (const o of p.create) doc(`${o.kind} ${o.metadata.name}: create if absent: ${changes(o) ? 'WOULD CREATE' : 'exists, left to its users'}`, o);
  for (const b of p.createBuilds) doc(`Build ${b.metadata.name}: create (a second create is AlreadyExists)`, b);
  if (p.checkImage) lines.push(`# verify image ${p.checkImage.image} in the registry before the hand-off (${p.checkImage.files.length} files, at most ${p.checkImage.maxImageSize} bytes)`);
  for (const n of p.deleteMachineConfigs) lines.push(`# delete hand-off MachineConfig ${n}`);
  if (p.handoffMachineConfig) doc(`MachineConfig ${p.handoffMachineConfig.metadata.name}: the hand-off (server-side apply): ${changes(p.handoffMachineConfig) ? 'WOULD CHANGE' : 'already as desired'}`, p.handoffMachineConfig);
  if (p.poolApply) {
    const a = p.poolApply;
    doc(`MachineConfigPool ${p.pool}: server-side apply of the fields the operator owns${a.paused ? ' (held for one rollout)' : ''}`, { metadata: { name: p.pool, annotations: a.annotations }, ...(a.paused ? { spec: { paused: true } } : {}) });
  }
  if (p.status) doc('status subresource of the status object', { status: p.status });
  const bc = p.apply.find((o) => o.kind === 'BuildConfig')?.spec as { source?: { dockerfile?: string } } | undefined;
  const df = (p.createBuilds[0]?.spec as { source?: { dockerfile?: string } } | undefined)?.source?.dockerfile ?? bc?.source?.dockerfile;
  let out = lines.join('\n') + '\n' + docs.join('---\n');
  if (df) out += `---\n# Dockerfile of the content build:\n${df.split('\n').map((l) => `#   ${l}`).join('\n')}\n`;
  return out;
}

export async function main(argv: string[]): Promise<void> {
  await program.parseAsync(argv);
}

if (import.meta.main) await main(process.argv);
