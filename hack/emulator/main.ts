// The OpenShift emulator: image import and build execution for the local control plane.
// Started by hack/local-cluster.sh as `node hack/emulator/main.ts`; see README.md.
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { z } from 'zod';
import { describeApiError } from '../../src/kube/errors.ts';
import { DEFAULT_NAMESPACE } from '../../src/plan/names.ts';
import { Builder } from './builder.ts';
import { Importer } from './importer.ts';
import { Kube } from './kube.ts';

const intFromEnv = (def: number, min: number) => z.coerce.number().int().min(min).default(def);

const EnvSchema = z.looseObject({
  LOCAL_REGISTRY: z.string().regex(/^[A-Za-z0-9.\-[\]:]+:[0-9]+$/, 'must be host:port (the local registry, plain http)'),
  LBC_NAMESPACE: z.string().min(1).default(DEFAULT_NAMESPACE),
  EMULATOR_MAX_BUILDS: intFromEnv(1, 1),
  EMULATOR_RESYNC_SECONDS: intFromEnv(3, 1),
  EMULATOR_SCHEDULED_IMPORT_SECONDS: intFromEnv(60, 1),
  EMULATOR_BUILD_DIR: z.string().optional(),
  EMULATOR_LOG_DIR: z.string().optional(),
  LBC_STATE_DIR: z.string().optional(),
  LBC_BUILDAH_ROOT: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

async function main(): Promise<void> {
  const log = pino({ name: 'emulator', level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } });
  const parsed = EnvSchema.safeParse(process.env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) log.fatal({ variable: issue.path.join('.'), problem: issue.message }, 'bad environment');
    process.exit(2);
  }
  const env = parsed.data;
  log.level = env.LOG_LEVEL;

  // Where per-build storage and build logs go.
  const stateBase = env.LBC_STATE_DIR
    ? join(env.LBC_STATE_DIR, 'emulator')
    : env.LBC_BUILDAH_ROOT
      ? join(dirname(resolve(env.LBC_BUILDAH_ROOT)), 'emulator')
      : join(tmpdir(), `lbc-emulator-${process.getuid?.() ?? 0}`);
  const buildDir = env.EMULATOR_BUILD_DIR ?? join(stateBase, 'builds');
  const logDir = env.EMULATOR_LOG_DIR ?? join(stateBase, 'build-logs');
  await mkdir(buildDir, { recursive: true });
  await mkdir(logDir, { recursive: true });

  const kc = new KubeConfig();
  kc.loadFromDefault();
  const kube = new Kube(kc);

  const importer = new Importer(kube, log, {
    registry: env.LOCAL_REGISTRY,
    resyncMs: env.EMULATOR_RESYNC_SECONDS * 1000,
    scheduledMs: env.EMULATOR_SCHEDULED_IMPORT_SECONDS * 1000,
  });
  const builder = new Builder(kube, log, {
    registry: env.LOCAL_REGISTRY,
    maxBuilds: env.EMULATOR_MAX_BUILDS,
    storageRoot: buildDir,
    logDir,
    getStream: importer.getStream,
  });

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, runningBuilds: builder.activeBuilds }, 'shutting down');
    const hard = setTimeout(() => process.exit(1), 15_000);
    hard.unref();
    Promise.allSettled([builder.stop(), importer.stop()])
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  log.info(
    {
      cluster: kc.getCurrentCluster()?.server,
      registry: env.LOCAL_REGISTRY,
      namespace: env.LBC_NAMESPACE,
      maxBuilds: env.EMULATOR_MAX_BUILDS,
      buildDir,
      logDir,
    },
    'emulator starting (watching ImageStreams and Builds in all namespaces)',
  );
  await importer.start();
  await builder.start();
  log.info('emulator running');
}

main().catch((err: unknown) => {
  console.error(JSON.stringify({ level: 60, msg: 'emulator failed', err: describeApiError(err) }));
  process.exit(1);
});
