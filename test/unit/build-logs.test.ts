import { describe, expect, it } from 'vitest';
import { withLogs } from '../../src/controller/reconciler.ts';
import type { Build } from '../../src/kube/types.ts';

describe('withLogs: a failed Build without logSnippet gets the log read for it', () => {
  const failed: Build = { metadata: { name: 'b-1', uid: 'u1' }, status: { phase: 'Failed' } };
  const snippet: Build = { metadata: { name: 'b-2', uid: 'u2' }, status: { phase: 'Failed', logSnippet: 'from OCM' } };
  it('fills logSnippet from the log by uid, keeps an existing one, leaves the input untouched', () => {
    const logs = new Map([
      ['u1', 'STEP 4/6: RUN x\nboom\n'],
      ['u2', 'other'],
    ]);
    const out = withLogs([failed, snippet], logs);
    expect(out[0]!.status?.logSnippet).toBe('STEP 4/6: RUN x\nboom\n');
    expect(out[1]!.status?.logSnippet).toBe('from OCM');
    expect(failed.status?.logSnippet).toBeUndefined();
  });
  it('an empty log (none could be read) changes nothing', () => {
    expect(withLogs([failed], new Map([['u1', '']]))[0]).toBe(failed);
  });
});
