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
  ];
  for (const [name, input, message] of bad) {
    it(`refuses a bad ${name} with a message naming it`, () => {
      expect(() => loadConfig({ env: {}, ...input })).toThrow(ConfigError);
      expect(() => loadConfig({ env: {}, ...input })).toThrow(message);
    });
  }

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
