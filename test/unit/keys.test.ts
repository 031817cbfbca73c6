import { describe, expect, it } from 'vitest';
import { eventPredicate, poolKeysFor } from '../../src/controller/keys.ts';
import type { MachineConfigPool } from '../../src/kube/types.ts';

const pools: MachineConfigPool[] = [
  { metadata: { name: 'worker' }, spec: { configuration: { name: 'rendered-worker-1' } } },
  { metadata: { name: 'infra' }, spec: { configuration: { name: 'rendered-infra-1' } } },
  { metadata: { name: 'master' } },
];
const list = () => pools;

describe('poolKeysFor: events map to pool keys', () => {
  it('a pool maps to itself; a status object to its pool', () => {
    expect(poolKeysFor('MachineConfigPool', { metadata: { name: 'worker' } }, list)).toEqual(['worker']);
    expect(poolKeysFor('LayeredPool', { metadata: { name: 'infra' } }, list)).toEqual(['infra']);
  });
  it('a MachineConfig maps to the pools rendered from it', () => {
    expect(poolKeysFor('MachineConfig', { metadata: { name: 'rendered-worker-1' } }, list)).toEqual(['worker']);
    expect(poolKeysFor('MachineConfig', { metadata: { name: '99-worker-ssh' } }, list)).toEqual([]);
    // The hand-off MachineConfig maps to its pool through the pool annotation.
    expect(poolKeysFor('MachineConfig', { metadata: { name: '99-infra-layered-image', annotations: { 'machineconfiguration.openshift.io/pool': 'infra' } } }, list)).toEqual(['infra']);
  });
  it('the ControllerConfig and the coreos stream concern every pool', () => {
    expect(poolKeysFor('ControllerConfig', { metadata: { name: 'machine-config-controller' } }, list)).toEqual(['worker', 'infra', 'master']);
    expect(poolKeysFor('ControllerConfig', { metadata: { name: 'other' } }, list)).toEqual([]);
    expect(poolKeysFor('ImageStream', { metadata: { name: 'coreos' } }, list)).toEqual(['worker', 'infra', 'master']);
  });
  it('owned objects map through the pool annotation, else the owner reference', () => {
    expect(poolKeysFor('Build', { metadata: { name: 'b', annotations: { 'machineconfiguration.openshift.io/pool': 'infra' } } }, list)).toEqual(['infra']);
    expect(poolKeysFor('BuildConfig', { metadata: { name: 'bc', ownerReferences: [{ kind: 'MachineConfigPool', name: 'worker' }] } }, list)).toEqual(['worker']);
    expect(poolKeysFor('Build', { metadata: { name: 'someone-elses' } }, list)).toEqual([]);
  });
  it('streams an admin created with oc tag map by name', () => {
    expect(poolKeysFor('ImageStream', { metadata: { name: 'worker-external-base' } }, list)).toEqual(['worker']);
    expect(poolKeysFor('ImageStream', { metadata: { name: 'my-pool-mco-content-external' } }, list)).toEqual(['my-pool']);
    expect(poolKeysFor('ImageStream', { metadata: { name: '-external-base' } }, list)).toEqual([]);
    expect(poolKeysFor('ImageStream', { metadata: { name: 'unrelated' } }, list)).toEqual([]);
  });
});

describe('eventPredicate', () => {
  it("ignores the operator's own status writes on a LayeredPool, wakes on spec, annotations, deletion", () => {
    const wakes = eventPredicate();
    const lp = (generation: number, annotations?: Record<string, string>, status = 'a') => ({ metadata: { name: 'p', generation, ...(annotations ? { annotations } : {}) }, status: { phase: status } });
    expect(wakes('LayeredPool', lp(1), 'add')).toBe(true);
    expect(wakes('LayeredPool', lp(1, undefined, 'b'), 'update')).toBe(false);
    expect(wakes('LayeredPool', lp(1, undefined, 'c'), 'update')).toBe(false);
    expect(wakes('LayeredPool', lp(2), 'update')).toBe(true);
    expect(wakes('LayeredPool', lp(2, { x: '1' }), 'update')).toBe(true);
    expect(wakes('LayeredPool', lp(2, { x: '1' }), 'delete')).toBe(true);
    expect(wakes('LayeredPool', lp(2, { x: '1' }), 'add')).toBe(true);
    // Other kinds always wake.
    expect(wakes('ImageStream', lp(1), 'update')).toBe(true);
    expect(wakes('ImageStream', lp(1), 'update')).toBe(true);
  });
});

describe('poolKeysFor: OSImageStream', () => {
  it('the `cluster` object wakes every pool (its default stream is their base); another name none', () => {
    const list = () => [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }] as never;
    expect(poolKeysFor('OSImageStream', { metadata: { name: 'cluster' } }, list)).toEqual(['a', 'b']);
    expect(poolKeysFor('OSImageStream', { metadata: { name: 'other' } }, list)).toEqual([]);
  });
});
