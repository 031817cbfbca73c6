import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.ts';
import { KubeconfigError, loadKubeConfig } from '../../src/kube/client.ts';
import { describeApiError, errorFields } from '../../src/kube/errors.ts';
import { describeFailure, UsageError } from '../../src/util/failure.ts';

const target = { server: 'https://api.example:6443', user: 'admin' };
/** What undici's fetch throws: "fetch failed" with the system error as its cause. */
const fetchFailed = (code: string, message: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(message), { code }) });

describe('describeFailure: one line and the exit code', () => {
  it('exits 2 for bad input: settings, flags, kubeconfig, a pool that does not exist', () => {
    expect(describeFailure(new ConfigError('invalid configuration: a\nb'))).toEqual({ exitCode: 2, line: 'invalid configuration: a; b' });
    expect(describeFailure(new UsageError('MachineConfigPool "x" does not exist'))).toEqual({ exitCode: 2, line: 'MachineConfigPool "x" does not exist' });
    expect(describeFailure(new KubeconfigError('--kubeconfig /nonexistent: cannot load it: the file does not exist')).exitCode).toBe(2);
  });

  it('names the address and the cause of an unreachable API server (not just "fetch failed")', () => {
    expect(describeFailure(fetchFailed('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:6443'), target)).toEqual({
      exitCode: 1,
      line: 'cannot reach the API server https://api.example:6443: connection refused (ECONNREFUSED)',
    });
    expect(describeFailure(fetchFailed('ENOTFOUND', 'getaddrinfo ENOTFOUND api.example'), target).line).toBe('cannot reach the API server https://api.example:6443: host name not found (ENOTFOUND)');
  });

  it('says when the certificate is not trusted', () => {
    const f = describeFailure(fetchFailed('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), target);
    expect(f.exitCode).toBe(1);
    expect(f.line).toBe(
      'the API server https://api.example:6443 presented a certificate that is not trusted (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain): fix certificate-authority-data in the kubeconfig',
    );
  });

  it('names the user on 401 and gives the API message (which names the user) on 403', () => {
    expect(describeFailure(new ApiException(401, 'Unauthorized', { message: 'Unauthorized' }, {}), target).line).toBe(
      'the API server https://api.example:6443 refused the credentials of kubeconfig user "admin" (401 Unauthorized): log in again or fix the kubeconfig',
    );
    const forbidden = new ApiException(403, 'Forbidden', { message: 'machineconfigpools is forbidden: User "bob" cannot list resource "machineconfigpools"' }, {});
    expect(describeFailure(forbidden, target)).toEqual({
      exitCode: 1,
      line: 'the API server https://api.example:6443 refused the request (403 Forbidden): machineconfigpools is forbidden: User "bob" cannot list resource "machineconfigpools"',
    });
  });

  it('keeps anything else to its first line, exit 1', () => {
    expect(describeFailure(new Error('caches did not sync\nstack...'))).toEqual({ exitCode: 1, line: 'caches did not sync; stack...' });
  });

  it('logs carry the cause of a failed request', () => {
    const e = fetchFailed('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6443');
    expect(describeApiError(e)).toBe('fetch failed (connect ECONNREFUSED 127.0.0.1:6443)');
    expect(errorFields(e)).toEqual({ message: 'fetch failed (connect ECONNREFUSED 127.0.0.1:6443)' });
  });
});

describe('loadKubeConfig', () => {
  it('names the file and the cause, without a stack trace', () => {
    expect(() => loadKubeConfig('/nonexistent')).toThrow(new KubeconfigError('--kubeconfig /nonexistent: cannot load it: the file does not exist'));
  });
});
