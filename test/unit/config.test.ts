import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config/config.ts';

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

  it('reads booleans from env and flags', () => {
    expect(loadConfig({ env: { LBC_REGISTRY_INSECURE: 'true', LBC_LEADER_ELECT: 'false' } })).toMatchObject({ registryInsecure: true, leaderElect: false });
    expect(loadConfig({ env: {}, flags: { leaderElect: 'no' } }).leaderElect).toBe(false);
  });

  const bad: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    ['namespace', { env: { LBC_NAMESPACE: 'Bad_NS' } }, /--namespace \/ LBC_NAMESPACE = "Bad_NS": must be a DNS-1123 label/],
    ['registry with scheme', { env: { LBC_REGISTRY: 'https://quay.io' } }, /--registry \/ LBC_REGISTRY = "https:\/\/quay.io": must be a registry host\[:port\]/],
    ['debounce not a number', { env: { LBC_DEBOUNCE_MS: 'soon' } }, /--debounce-ms \/ LBC_DEBOUNCE_MS = "soon"/],
    ['negative retry limit', { flags: { retryLimit: '-1' } }, /retry limit must be 0 or more/],
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
});
