import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, SETTINGS, loadConfig } from '../../src/config/config.ts';
import type { Config } from '../../src/config/config.ts';
import { LEADER_ELECTION_DEFAULTS } from '../../src/leader/lease.ts';
import { HTTP_DEFAULTS } from '../../src/server/http.ts';
import { DEFAULT_MAX_IMAGE_SIZE } from '../../src/plan/plan.ts';
import { describeFailure } from '../../src/util/failure.ts';

describe('loadConfig', () => {
  it('gives the documented defaults', () => {
    expect(loadConfig({ env: {} })).toEqual(DEFAULTS);
  });

  it('layers file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbc-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'namespace: from-file\ndebounceMs: 100\nhistorySize: 3\n');
    const c = loadConfig({ file, env: { LBC_DEBOUNCE_MS: '200', LBC_HISTORY_SIZE: '4' }, flags: { historySize: '5' } });
    expect(c.namespace).toBe('from-file');
    expect(c.debounceMs).toBe(200);
    expect(c.historySize).toBe(5);
  });

  it('reads retention durations with units: --prune-interval 1h, --keep-for 7d, or milliseconds', () => {
    expect(loadConfig({ env: {} })).toMatchObject({ pruneIntervalMs: 3_600_000, keepImages: 3, keepForMs: 7 * 86_400_000 });
    expect(loadConfig({ env: { LBC_KEEP_FOR: '12h', LBC_PRUNE_INTERVAL: '0' }, flags: { keepImages: '2' } })).toMatchObject({ keepForMs: 12 * 3_600_000, pruneIntervalMs: 0, keepImages: 2 });
    expect(loadConfig({ env: {}, flags: { keepForMs: '30m', pruneIntervalMs: '90s' } })).toMatchObject({ keepForMs: 1_800_000, pruneIntervalMs: 90_000 });
    expect(loadConfig({ env: {}, flags: { keepForMs: '1500' } }).keepForMs).toBe(1500);
    expect(() => loadConfig({ env: {}, flags: { keepForMs: '-1d' } })).toThrow(/--keep-for \/ LBC_KEEP_FOR = "-1d"/);
  });

  it('reads booleans from env and flags', () => {
    expect(loadConfig({ env: { LBC_REGISTRY_INSECURE: 'true', LBC_LEADER_ELECT: 'false' } })).toMatchObject({ registryInsecure: true, leaderElect: false });
    expect(loadConfig({ env: {}, flags: { leaderElect: 'no' } }).leaderElect).toBe(false);
  });

  const bad: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    ['namespace', { env: { LBC_NAMESPACE: 'Bad_NS' } }, /--namespace \/ LBC_NAMESPACE = "Bad_NS": must be a DNS-1123 label/],
    ['registry with scheme', { env: { LBC_REGISTRY: 'https://quay.io' } }, /--registry \/ LBC_REGISTRY = "https:\/\/quay.io": must be a registry host\[:port\]/],
    ['debounce not a number', { env: { LBC_DEBOUNCE_MS: 'soon' } }, /--debounce-ms \/ LBC_DEBOUNCE_MS = "soon"/],
    ['retry limit 0', { flags: { retryLimit: '-1' } }, /--retry-limit \/ LBC_RETRY_LIMIT = "-1": retry limit is the number of attempts in all: at least 1/],
    ['concurrency 0', { flags: { concurrency: 0 } }, /concurrency must be at least 1/],
    ['multi-line apply command', { flags: { applyCommand: 'true\nRUN evil' } }, /apply command must be a single line/],
    ['log level', { env: { LBC_LOG_LEVEL: 'loud' } }, /--log-level \/ LBC_LOG_LEVEL = "loud"/],
    ['metrics address', { env: { LBC_METRICS_ADDR: '8080' } }, /must be host:port/],
    ['boolean', { env: { LBC_LEADER_ELECT: 'maybe' } }, /LBC_LEADER_ELECT = "maybe"/],
    ['renew deadline vs lease', { flags: { leaseDurationMs: 5000, renewDeadlineMs: 6000 } }, /--renew-deadline-ms \(6000\) must be shorter than --lease-duration-ms \(5000\)/],
    ['hand-off mode', { env: { LBC_HANDOFF: 'nodes' } }, /--handoff \/ LBC_HANDOFF = "nodes": must be machineconfig .* or annotation/],
    ['image size', { flags: { maxImageSize: 'huge' } }, /--max-image-size \/ LBC_MAX_IMAGE_SIZE = "huge": must be a size in bytes/],
  ];
  for (const [name, input, message] of bad) {
    it(`refuses a bad ${name} with a message naming it`, () => {
      expect(() => loadConfig({ env: {}, ...input })).toThrow(ConfigError);
      expect(() => loadConfig({ env: {}, ...input })).toThrow(message);
    });
  }

  it("refuses MCO's own layering label as the opt-in label, in one line, from a flag, the environment or the file", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbc-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'optInLabel: machineconfiguration.openshift.io/layering-enabled\n');
    for (const input of [
      { env: {}, flags: { optInLabel: 'machineconfiguration.openshift.io/layering-enabled' } },
      { env: { LBC_OPT_IN_LABEL: 'machineconfiguration.openshift.io/layering-enabled' } },
      { env: {}, file },
    ]) {
      let err: unknown;
      try {
        loadConfig(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).not.toContain('\n');
      expect(msg).toMatch(/machineconfiguration.openshift.io\/layering-enabled is refused: it is MCO's own .*MachineOSConfig.*default layering.mco.dev\/enabled/);
    }
  });

  it('defaults to the operator label, MachineConfig hand-off and a 20 GiB image budget; sizes take suffixes', () => {
    expect(DEFAULTS.optInLabel).toBe('layering.mco.dev/enabled');
    expect(DEFAULTS.handoff).toBe('machineconfig');
    expect(loadConfig({ env: {} }).maxImageSize).toBe(20 * 1024 ** 3);
    expect(loadConfig({ env: { LBC_MAX_IMAGE_SIZE: '512Mi' } }).maxImageSize).toBe(512 * 1024 ** 2);
    expect(loadConfig({ env: {}, flags: { maxImageSize: '1000' } }).maxImageSize).toBe(1000);
    expect(loadConfig({ env: { LBC_HANDOFF: 'annotation', LBC_OPT_IN_LABEL: 'example.com/layered' } })).toMatchObject({ handoff: 'annotation', optInLabel: 'example.com/layered' });
  });

  it('refuses unknown keys and non-mappings in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbc-config-'));
    const f1 = join(dir, 'a.yaml');
    writeFileSync(f1, 'namespaec: x\n');
    expect(() => loadConfig({ file: f1, env: {} })).toThrow(/unknown setting "namespaec"/);
    const f2 = join(dir, 'b.yaml');
    writeFileSync(f2, '- a\n- b\n');
    expect(() => loadConfig({ file: f2, env: {} })).toThrow(/must be a mapping/);
    expect(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/config file .*missing.yaml/);
  });

  // One bad value per setting: each is refused with exit 2 and a one-line message naming its flag.
  const dir = mkdtempSync(join(tmpdir(), 'lbc-config-bad-'));
  const notPem = join(dir, 'not-a-ca.txt');
  writeFileSync(notPem, 'hello\n');
  const BAD: Record<keyof Config, unknown> = {
    namespace: 'Bad_NS',
    optInLabel: 'no spaces allowed',
    registry: 'https://quay.io/path',
    registryInsecure: 'maybe',
    insecureRegistries: 'http://quay.io, ',
    pushSecret: 'Not A Secret',
    caBundleFile: notPem,
    baseOSImage: 'quay.io/os:bad tag\nwith newline',
    debounceMs: 'soon',
    historySize: 0,
    retryLimit: 0,
    retryBackoffMs: -1,
    concurrency: 'many',
    registryConcurrency: 0,
    applyCommand: 'true\nRUN evil',
    logLevel: 'loud',
    metricsAddr: '8080',
    probeAddr: 'localhost',
    leaderElect: 'perhaps',
    leaseName: 'Lease_Name',
    leaseDurationMs: 500,
    renewDeadlineMs: 'x',
    retryPeriodMs: 10,
    resyncPeriodMs: -5,
    shutdownTimeoutMs: 5,
    handoff: 'carrier-pigeon',
    maxImageSize: '12 parsecs',
    registryTokenFile: dir,
    pruneIntervalMs: '1 week',
    keepImages: -1,
    keepForMs: '7 days',
  };
  for (const key of Object.keys(SETTINGS) as (keyof Config)[]) {
    it(`--${SETTINGS[key].flag}: a bad value exits 2 naming the flag`, () => {
      let err: unknown;
      try {
        loadConfig({ env: {}, flags: { [key]: BAD[key] } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const f = describeFailure(err);
      expect(f.exitCode).toBe(2);
      expect(f.line).toContain(`--${SETTINGS[key].flag}`);
      expect(f.line).not.toContain('\n');
    });
  }

  it('has a bad value for every setting in the test above', () => {
    expect(Object.keys(BAD).sort()).toEqual(Object.keys(SETTINGS).sort());
  });

  it('checks the lease durations as the elector does, naming both flags (exit 2 before anything starts)', () => {
    let err: unknown;
    try {
      loadConfig({ env: {}, flags: { renewDeadlineMs: '2000', retryPeriodMs: '1800' } });
    } catch (e) {
      err = e;
    }
    const f = describeFailure(err);
    expect(f.exitCode).toBe(2);
    expect(f.line).toBe('invalid configuration: --renew-deadline-ms (2000) must be longer than --retry-period-ms (1800) plus its 20% jitter (2160)');
    expect(loadConfig({ env: {}, flags: { renewDeadlineMs: '2200', retryPeriodMs: '1800' } }).renewDeadlineMs).toBe(2200);
  });

  it('reports every bad value of one invocation on one line', () => {
    expect(() => loadConfig({ env: { LBC_LOG_LEVEL: 'loud' }, flags: { concurrency: 0 } })).toThrow(
      /^invalid configuration: --concurrency \/ LBC_CONCURRENCY = 0: concurrency must be at least 1; --log-level \/ LBC_LOG_LEVEL = "loud": .*$/,
    );
  });

  it('is the one set of defaults: the elector, the HTTP servers and the planner read the same values', () => {
    expect(LEADER_ELECTION_DEFAULTS).toMatchObject({ name: DEFAULTS.leaseName, leaseDurationMs: DEFAULTS.leaseDurationMs, renewDeadlineMs: DEFAULTS.renewDeadlineMs, retryPeriodMs: DEFAULTS.retryPeriodMs });
    expect(HTTP_DEFAULTS).toEqual({ metricsAddress: DEFAULTS.metricsAddr, probeAddress: DEFAULTS.probeAddr });
    expect(DEFAULT_MAX_IMAGE_SIZE).toBe(DEFAULTS.maxImageSize);
    expect(DEFAULTS.retryLimit).toBe(3);
  });
});
