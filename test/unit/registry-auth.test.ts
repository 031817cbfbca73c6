import { describe, expect, it } from 'vitest';
import { credentialsFromDockerConfig, DockerConfigError, normalizeRegistryHost, parseWwwAuthenticate } from '../../src/registry/auth.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('credentialsFromDockerConfig', () => {
  it('reads auth (base64 user:pass) from the auths form', () => {
    const cfg = JSON.stringify({ auths: { '127.0.0.1:5000': { auth: b64('alice:pa:ss') } } });
    expect(credentialsFromDockerConfig(cfg, '127.0.0.1:5000')).toEqual({ username: 'alice', password: 'pa:ss' });
  });
  it('reads username/password and accepts URL-shaped keys', () => {
    const cfg = { auths: { 'https://Quay.io/v1/': { username: 'bob', password: 'x' } } };
    expect(credentialsFromDockerConfig(cfg, 'quay.io')).toEqual({ username: 'bob', password: 'x' });
  });
  it('reads the legacy .dockercfg form and docker hub aliases', () => {
    const cfg = { 'https://index.docker.io/v1/': { auth: b64('c:d') } };
    expect(credentialsFromDockerConfig(cfg, 'docker.io')).toEqual({ username: 'c', password: 'd' });
  });
  it('returns undefined for another host or another port', () => {
    const cfg = { auths: { 'quay.io': { auth: b64('a:b') } } };
    expect(credentialsFromDockerConfig(cfg, 'registry.example.com')).toBeUndefined();
    expect(credentialsFromDockerConfig({ auths: { 'h:5000': { auth: b64('a:b') } } }, 'h:5001')).toBeUndefined();
  });
  it('refuses malformed configs without echoing secrets', () => {
    const secret = 'hunter2-very-secret';
    for (const bad of ['{not json ' + secret, JSON.stringify({ auths: { h: { auth: b64(secret) } } }), JSON.stringify({ auths: { h: {} } }), JSON.stringify([secret])]) {
      let err: unknown;
      try {
        credentialsFromDockerConfig(bad, 'h');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DockerConfigError);
      expect((err as Error).message).not.toContain(secret);
      expect((err as Error).message).not.toContain(b64(secret));
    }
  });
  it('normalizes registry keys', () => {
    expect(normalizeRegistryHost('http://Host:5000/v2/')).toBe('host:5000');
    expect(normalizeRegistryHost('host')).toBe('host');
  });
});

describe('parseWwwAuthenticate', () => {
  it('parses a bearer challenge with a scope containing commas', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
    ]);
  });
  it('parses Basic, unquoted values, escapes and several challenges', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry \\"Realm\\""')).toEqual([{ scheme: 'basic', params: { realm: 'Registry "Realm"' } }]);
    expect(parseWwwAuthenticate(['Basic realm=r', 'Bearer realm="u", error="invalid_token"'])).toEqual([
      { scheme: 'basic', params: { realm: 'r' } },
      { scheme: 'bearer', params: { realm: 'u', error: 'invalid_token' } },
    ]);
  });
  it('returns nothing for a missing header', () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});
