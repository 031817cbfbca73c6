import { describe, expect, it } from 'vitest';
import {
  formatDigestRef,
  formatImageRef,
  ImageRefError,
  isDigest,
  parseImageRef,
  repoOf,
  safeParseImageRef,
  type ImageRefErrorReason,
} from '../../src/plan/imageref.ts';

const D = 'sha256:' + '0123456789abcdef'.repeat(4);

describe('parseImageRef: valid references', () => {
  const cases: [string, { registry: string; repository: string; tag?: string; digest?: string; explicitRegistry: boolean }][] = [
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', explicitRegistry: false }],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', explicitRegistry: false }],
    ['library/busybox', { registry: 'docker.io', repository: 'library/busybox', explicitRegistry: false }],
    ['quay.io/openshift/okd-content', { registry: 'quay.io', repository: 'openshift/okd-content', explicitRegistry: true }],
    ['quay.io/openshift/okd-content:4.15', { registry: 'quay.io', repository: 'openshift/okd-content', tag: '4.15', explicitRegistry: true }],
    [`quay.io/openshift/okd-content@${D}`, { registry: 'quay.io', repository: 'openshift/okd-content', digest: D, explicitRegistry: true }],
    [`quay.io/openshift/okd-content:4.15@${D}`, { registry: 'quay.io', repository: 'openshift/okd-content', tag: '4.15', digest: D, explicitRegistry: true }],
    ['localhost/foo', { registry: 'localhost', repository: 'foo', explicitRegistry: true }],
    ['localhost:5000/foo/bar:v1', { registry: 'localhost:5000', repository: 'foo/bar', tag: 'v1', explicitRegistry: true }],
    ['127.0.0.1:5000/ns/worker-base', { registry: '127.0.0.1:5000', repository: 'ns/worker-base', explicitRegistry: true }],
    [`127.0.0.1:41234/ns/worker-rendered-config@${D}`, { registry: '127.0.0.1:41234', repository: 'ns/worker-rendered-config', digest: D, explicitRegistry: true }],
    [
      'image-registry.openshift-image-registry.svc:5000/openshift-machine-config-operator/worker-mco-content:latest',
      {
        registry: 'image-registry.openshift-image-registry.svc:5000',
        repository: 'openshift-machine-config-operator/worker-mco-content',
        tag: 'latest',
        explicitRegistry: true,
      },
    ],
    ['registry.example.com/a/b/c/d/e', { registry: 'registry.example.com', repository: 'a/b/c/d/e', explicitRegistry: true }],
    ['Registry.Example.COM/a', { registry: 'Registry.Example.COM', repository: 'a', explicitRegistry: true }],
    ['my-registry:443/a__b/c.d/e--f', { registry: 'my-registry:443', repository: 'a__b/c.d/e--f', explicitRegistry: true }],
    ['quay.io/a:V1.2_rc-3', { registry: 'quay.io', repository: 'a', tag: 'V1.2_rc-3', explicitRegistry: true }],
    ['quay.io/a:' + 'x'.repeat(128), { registry: 'quay.io', repository: 'a', tag: 'x'.repeat(128), explicitRegistry: true }],
  ];
  for (const [ref, want] of cases) {
    it(ref, () => {
      expect(parseImageRef(ref)).toEqual(want);
      expect(safeParseImageRef(ref)).toEqual({ ok: true, ref: want });
    });
  }
});

describe('parseImageRef: refused references', () => {
  const cases: [unknown, ImageRefErrorReason][] = [
    ['', 'Empty'],
    [42, 'NotAString'],
    [undefined, 'NotAString'],
    ['quay.io/a\n', 'InvalidCharacter'],
    ['quay.io/a\nRUN rm -rf /', 'InvalidCharacter'],
    ['x\nRUN rm -rf /', 'InvalidCharacter'],
    ['quay.io/a b', 'InvalidCharacter'],
    [' quay.io/a', 'InvalidCharacter'],
    ['quay.io/a ', 'InvalidCharacter'],
    ['quay.io/a\tb', 'InvalidCharacter'],
    ['quay.io/a\r', 'InvalidCharacter'],
    ['quay.io/a\u0000', 'InvalidCharacter'],
    ['quay.io/a\u007f', 'InvalidCharacter'],
    ['quay.io/a\u2028', 'InvalidCharacter'],
    ['quay.io/ä', 'InvalidCharacter'],
    ['quay.io/a;rm', 'InvalidCharacter'],
    ['quay.io/a$(id)', 'InvalidCharacter'],
    ['quay.io/a\\\nRUN id', 'InvalidCharacter'],
    ['quay.io/a"b', 'InvalidCharacter'],
    ['--from=x quay.io/a', 'InvalidCharacter'],
    ['quay.io/a#comment', 'InvalidCharacter'],
    [`quay.io/a@sha256:${'0'.repeat(63)}`, 'InvalidDigest'],
    [`quay.io/a@sha256:${'0'.repeat(65)}`, 'InvalidDigest'],
    [`quay.io/a@sha256:${'A'.repeat(64)}`, 'InvalidDigest'],
    [`quay.io/a@sha256:${'g'.repeat(64)}`, 'InvalidDigest'],
    [`quay.io/a@sha512:${'0'.repeat(128)}`, 'InvalidDigest'],
    ['quay.io/a@', 'InvalidDigest'],
    [`quay.io/a@${D}@${D}`, 'InvalidDigest'],
    ['quay.io/Upper', 'InvalidRepository'],
    ['Upper/x', 'InvalidRepository'],
    ['quay.io/', 'InvalidRepository'],
    ['quay.io//a', 'InvalidRepository'],
    ['quay.io/a//b', 'InvalidRepository'],
    ['quay.io/a/', 'InvalidRepository'],
    ['/a', 'InvalidRepository'],
    [':tag', 'InvalidRepository'],
    [`@${D}`, 'InvalidRepository'],
    ['quay.io/-a', 'InvalidRepository'],
    ['quay.io/a-', 'InvalidRepository'],
    ['quay.io/a...b', 'InvalidRepository'],
    ['quay.io/a___b', 'InvalidRepository'],
    ['quay.io/.a', 'InvalidRepository'],
    ['quay.io:/a', 'InvalidRegistry'],
    ['quay.io:0/a', 'InvalidRegistry'],
    ['quay.io:65536/a', 'InvalidRegistry'],
    ['quay.io:abc/a', 'InvalidRegistry'],
    ['-quay.io/a', 'InvalidRegistry'],
    ['quay..io/a', 'InvalidRegistry'],
    ['quay.io:5000:1/a', 'InvalidRegistry'],
    ['[::1]:5000/a', 'InvalidCharacter'],
    ['quay.io/a:', 'InvalidTag'],
    ['quay.io/a:.x', 'InvalidTag'],
    ['quay.io/a:-x', 'InvalidTag'],
    ['quay.io/a:' + 'x'.repeat(129), 'InvalidTag'],
    ['quay.io/a:b:c', 'InvalidRepository'],
    ['quay.io/' + 'a'.repeat(300), 'TooLong'],
    ['quay.io/' + 'a/'.repeat(400) + 'a', 'TooLong'],
    ['a'.repeat(10_000), 'TooLong'],
  ];
  for (const [ref, reason] of cases) {
    it(`${JSON.stringify(ref)?.slice(0, 60)} -> ${reason}`, () => {
      let err: unknown;
      try {
        parseImageRef(ref);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImageRefError);
      expect((err as ImageRefError).reason).toBe(reason);
      // The message never carries a raw newline or control character.
      // eslint-disable-next-line no-control-regex
      expect((err as ImageRefError).message).not.toMatch(/[\u0000-\u001f]/);
      const safe = safeParseImageRef(ref);
      expect(safe.ok).toBe(false);
    });
  }
});

describe('helpers', () => {
  it('isDigest', () => {
    expect(isDigest(D)).toBe(true);
    expect(isDigest(D.toUpperCase())).toBe(false);
    expect(isDigest(D + '\n')).toBe(false);
    expect(isDigest(D.slice(0, -1))).toBe(false);
    expect(isDigest('sha512:' + 'a'.repeat(64))).toBe(false);
    expect(isDigest(undefined)).toBe(false);
  });
  it('formatDigestRef', () => {
    expect(formatDigestRef('127.0.0.1:5000/ns/worker-base', D)).toBe(`127.0.0.1:5000/ns/worker-base@${D}`);
    expect(() => formatDigestRef('127.0.0.1:5000/ns/worker-base:latest', D)).toThrow(ImageRefError);
    expect(() => formatDigestRef(`127.0.0.1:5000/ns/worker-base@${D}`, D)).toThrow(ImageRefError);
    expect(() => formatDigestRef('127.0.0.1:5000/ns/worker-base', 'sha256:abc')).toThrow(/digest/);
    expect(() => formatDigestRef('127.0.0.1:5000/ns/x\nRUN id', D)).toThrow(ImageRefError);
  });
  it('repoOf', () => {
    expect(repoOf(`quay.io/a/b:1@${D}`)).toBe('quay.io/a/b');
    expect(repoOf('busybox:latest')).toBe('docker.io/library/busybox');
    expect(() => repoOf('bad ref')).toThrow(ImageRefError);
  });
  it('formatImageRef round-trips', () => {
    for (const ref of [`quay.io/a/b:1@${D}`, 'localhost:5000/x', `127.0.0.1:5000/ns/s@${D}`]) {
      expect(formatImageRef(parseImageRef(ref))).toBe(ref);
    }
    expect(formatImageRef(parseImageRef('busybox'))).toBe('docker.io/library/busybox');
  });
});
