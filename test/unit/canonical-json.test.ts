import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys recursively, including numeric-looking keys', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ '10': 1, '2': 2, a: 3 })).toBe('{"10":1,"2":2,"a":3}');
  });
  it('is independent of insertion order', () => {
    expect(canonicalJson({ x: 1, y: { p: 'q', r: 's' } })).toBe(canonicalJson({ y: { r: 's', p: 'q' }, x: 1 }));
  });
  it('follows JSON.stringify for strings, undefined and toJSON', () => {
    expect(canonicalJson({ s: 'a"\n\u2028', u: undefined, arr: [undefined, 1] })).toBe('{"arr":[null,1],"s":"a\\"\\n\u2028"}');
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
    expect(canonicalJson('x')).toBe('"x"');
  });
  it('refuses what JSON cannot represent', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/cycle/);
    expect(() => canonicalJson(undefined)).toThrow(/no JSON representation/);
  });
  it('allows shared (non-cyclic) references', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });
});

describe('sha256Hex', () => {
  it('hashes strings as UTF-8 and buffers as bytes', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(Buffer.from('abc'))).toBe(sha256Hex('abc'));
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
