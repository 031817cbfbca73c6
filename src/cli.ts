#!/usr/bin/env node
// layered-build-controller: the operator (`run`), a dry run an admin can read
// (`render`), and the admin's table of layered pools (`status`).
import { Command, Option } from 'commander';
import * as yaml from 'js-yaml';
import type { Config } from './config/config.ts';
import { ConfigError, DEFAULTS, SETTINGS, loadConfig } from './config/config.ts';
import { Manager } from './controller/manager.ts';
import { createMetrics } from './server/metrics.ts';
import { loadKubeConfig } from './kube/client.ts';
import { ImageStreamSchema, LayeredPoolSchema, MachineConfigPoolSchema, MachineConfigSchema, RESOURCES } from './kube/types.ts';
import { rows, formatTable } from './status/table.ts';
import { formatExplain } from './status/explain.ts';
import { DurationSchema, formatPrune, KeepImagesSchema, NodeSchema, prunePlan } from './status/prune.ts';
import { DEFAULT_KEEP_IMAGES } from './plan/retention.ts';
import { createLogger } from './util/log.ts';
import type { Plan } from './plan/plan.ts';
import type { KubeObject } from './plan/snapshot.ts';
import * as k8s from '@kubernetes/client-node';

function addConfigOptions(cmd: Command): Command {
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Config, (typeof SETTINGS)[keyof Config]][]) {
    const def = DEFAULTS[key];
    const isBool = typeof def === 'boolean';
    const opt = new Option(isBool ? `--${s.flag} [bool]` : `--${s.flag} <value>`, `${s.help} (env ${s.env}${def !== undefined ? `, default ${JSON.stringify(def)}` : ''})`);
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

function fail(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`layered-build-controller: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`layered-build-controller: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

const program = new Command('layered-build-controller')
  .description('Builds layered OS images for MachineConfigPools that opt in, and hands each pool its image by digest.')
  .showHelpAfterError();

addConfigOptions(program.command('run').description('run the operator against the current kubeconfig or in-cluster')).action(async (opts: Record<string, unknown>) => {
  let config: Config;
  try {
    config = configFrom(opts);
  } catch (e) {
    fail(e);
  }
  const log = createLogger(config.logLevel);
  const kc = loadKubeConfig(typeof opts.kubeconfig === 'string' ? opts.kubeconfig : undefined);
  const manager = new Manager({ config, kubeConfig: kc, log });
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal: sig }, 'stopping');
    abort.abort();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('unhandledRejection', (e) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'unhandled rejection'));
  log.info({ namespace: config.namespace, registry: config.registry, leaderElect: config.leaderElect }, 'starting');
  try {
    await manager.start(abort.signal);
    process.exit(0);
  } catch (e) {
    log.fatal({ err: e instanceof Error ? e.message : String(e) }, 'operator failed');
    process.exit(1);
  }
});

addConfigOptions(
  program
    .command('render')
    .description('print, as YAML, every object the operator would create or change for a pool, and the Dockerfile; writes nothing')
    .requiredOption('--pool <name>', 'the MachineConfigPool'),
).action(async (opts: Record<string, unknown>) => {
  try {
    const config = configFrom({ ...opts, leaderElect: 'false' });
    const log = createLogger('silent');
    const kc = loadKubeConfig(typeof opts.kubeconfig === 'string' ? opts.kubeconfig : undefined);
    const manager = new Manager({ config, kubeConfig: kc, log, metrics: createMetrics({ processMetrics: false }) });
    const { plan: p, changes } = await manager.renderOnce(String(opts.pool));
    process.stdout.write(renderPlanYaml(p, changes));
    process.exit(0);
  } catch (e) {
    fail(e);
  }
});

program
  .command('status')
  .description('a table of the layered pools, from their status objects')
  .option('-n, --namespace <ns>', 'the operator namespace', process.env.LBC_NAMESPACE ?? DEFAULTS.namespace)
  .option('-o, --output <format>', 'table or json', 'table')
  .option('--kubeconfig <file>', 'kubeconfig to use')
  .option('--explain <pool>', "the decision chain of the pool's last reconcile: inputs, why it waits, builds, is degraded or idle, and what to do")
  .action(async (opts: { namespace: string; output: string; kubeconfig?: string; explain?: string }) => {
    try {
      if (!['table', 'json'].includes(opts.output)) throw new ConfigError(`-o ${JSON.stringify(opts.output)}: must be table or json`);
      const kc = loadKubeConfig(opts.kubeconfig);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const r = RESOURCES.layeredPool;
      if (opts.explain !== undefined) {
        const obj: unknown = await api.getNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural, name: opts.explain });
        const lp = LayeredPoolSchema.parse(obj);
        if (opts.output === 'json') process.stdout.write(JSON.stringify({ pool: opts.explain, phase: lp.status?.phase, explain: lp.status?.explain, lastBuild: lp.status?.history?.[0] }, null, 2) + '\n');
        else process.stdout.write(formatExplain(lp, Date.now()));
        return;
      }
      const list = (await api.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural })) as { items?: unknown[] };
      const pools = (list.items ?? []).flatMap((i) => {
        const parsed = LayeredPoolSchema.safeParse(i);
        return parsed.success ? [parsed.data] : [];
      });
      const rs = rows(pools, Date.now());
      if (opts.output === 'json') process.stdout.write(JSON.stringify(rs, null, 2) + '\n');
      else if (rs.length === 0) process.stdout.write(`no layered pools in namespace ${opts.namespace}\n`);
      else process.stdout.write(formatTable(rs));
    } catch (e) {
      fail(e);
    }
  });

program
  .command('prune')
  .description('retention, in-use aware: what would be removed from the pools\' image streams and why, and what stays and why')
  .option('--dry-run', 'print the decision only (required: removal is not implemented yet)')
  .option('--pool <name>', 'only this pool')
  .option('--keep-images <n>', 'good images kept per stream besides those in use', String(DEFAULT_KEEP_IMAGES))
  .option('--keep-for <duration>', 'images younger than this stay (d, h, m, s)', '7d')
  .option('-n, --namespace <ns>', 'the operator namespace', process.env.LBC_NAMESPACE ?? DEFAULTS.namespace)
  .option('--kubeconfig <file>', 'kubeconfig to use')
  .action(async (opts: { dryRun?: boolean; pool?: string; keepImages: string; keepFor: string; namespace: string; kubeconfig?: string }) => {
    try {
      if (!opts.dryRun) throw new ConfigError('prune: only --dry-run is implemented; nothing is removed yet');
      const keepImages = KeepImagesSchema.safeParse(opts.keepImages);
      if (!keepImages.success) throw new ConfigError(`--keep-images ${JSON.stringify(opts.keepImages)}: ${keepImages.error.issues[0]!.message}`);
      const keepFor = DurationSchema.safeParse(opts.keepFor);
      if (!keepFor.success) throw new ConfigError(`--keep-for ${JSON.stringify(opts.keepFor)}: ${keepFor.error.issues[0]!.message}`);
      const kc = loadKubeConfig(opts.kubeconfig);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const items = async (r: (typeof RESOURCES)[keyof typeof RESOURCES]) =>
        ((r.namespaced
          ? await api.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: opts.namespace, plural: r.plural })
          : await api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })) as { items?: unknown[] }).items ?? [];
      const parsed = <T,>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, list: unknown[]): T[] =>
        list.flatMap((i) => {
          const p = schema.safeParse(i);
          return p.success ? [p.data] : [];
        });
      const snapshot = {
        now: Date.now(),
        keepImages: keepImages.data,
        keepForMs: keepFor.data,
        pools: parsed(MachineConfigPoolSchema, await items(RESOURCES.machineConfigPool)),
        machineConfigs: parsed(MachineConfigSchema, await items(RESOURCES.machineConfig)),
        streams: parsed(ImageStreamSchema, await items(RESOURCES.imageStream)),
        layeredPools: parsed(LayeredPoolSchema, await items(RESOURCES.layeredPool)),
        nodes: parsed(NodeSchema, (await core.listNode()).items),
      };
      process.stdout.write(formatPrune(prunePlan(snapshot, opts.pool), opts.namespace));
    } catch (e) {
      fail(e);
    }
  });

export function renderPlanYaml(p: Plan, changes: (o: KubeObject) => boolean = () => true): string {
  const lines: string[] = [`# pool ${p.pool}: ${p.managed ? 'managed' : 'not managed (not opted in, or gone): nothing is written'}`];
  if (p.push) lines.push(`# push rendered-config image ${p.push.repository}@${p.push.image.manifestDigest} (${p.push.image.size} bytes) for ${p.push.renderedConfig}, by tag: ${p.push.tags.join(', ')}`);
  for (const r of p.importRequests) lines.push(`# re-request the import of ImageStream ${r.metadata.name} (ImageStreamImport)`);
  for (const c of p.cancelBuilds) lines.push(`# cancel stale build ${c}`);
  const docs: string[] = [];
  const doc = (what: string, body: unknown) => docs.push(`# ${what}\n${yaml.dump(body, { lineWidth: 160, noRefs: true })}`);
  for (const o of p.apply) doc(`${o.kind} ${o.metadata.name}: server-side apply: ${changes(o) ? 'WOULD CHANGE' : 'already as desired, nothing sent'}`, o);
  for (const o of p.create) doc(`${o.kind} ${o.metadata.name}: create if absent: ${changes(o) ? 'WOULD CREATE' : 'exists, left to its users'}`, o);
  for (const b of p.createBuilds) doc(`Build ${b.metadata.name}: create (a second create is AlreadyExists)`, b);
  if (p.checkImage) lines.push(`# verify image ${p.checkImage.image} in the registry before the hand-off (${p.checkImage.files.length} files, at most ${p.checkImage.maxImageSize} bytes)`);
  for (const n of p.deleteMachineConfigs) lines.push(`# delete hand-off MachineConfig ${n}`);
  if (p.handoffMachineConfig) doc(`MachineConfig ${p.handoffMachineConfig.metadata.name}: the hand-off (server-side apply): ${changes(p.handoffMachineConfig) ? 'WOULD CHANGE' : 'already as desired'}`, p.handoffMachineConfig);
  if (p.poolAnnotations) doc('pool hand-off (server-side apply of these annotations only)', { metadata: { name: p.pool, annotations: p.poolAnnotations } });
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
