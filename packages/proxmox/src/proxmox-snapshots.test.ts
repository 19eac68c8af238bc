import { SnapshotTreeSchema } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import derived from './__fixtures__/derived-snapshot-list.json' with { type: 'json' };
import recorded from './__fixtures__/real-fog-snapshots-pve7.4.json' with { type: 'json' };
import {
  findSnapshot,
  isRunningPerSnapshotList,
  type ProxmoxSnapshotEntry,
  snapshotListToTree,
} from './proxmox-snapshots.js';

describe('snapshotListToTree', () => {
  it('builds the tree of the derived list: parent chain, vmstate, current', () => {
    const tree = snapshotListToTree(derived.response.data);
    SnapshotTreeSchema.parse(tree);
    expect(tree).toEqual({
      currentId: 'with-ram',
      roots: [
        {
          id: 'pre-upgrade',
          name: 'pre-upgrade',
          createdAt: '2025-01-15T11:05:09.000Z',
          memory: false,
          quiesced: false,
          powerState: 'off',
          children: [
            {
              id: 'with-ram',
              name: 'with-ram',
              description: 'after install',
              createdAt: '2025-01-22T12:39:09.000Z',
              memory: true,
              quiesced: false,
              powerState: 'on',
              parentId: 'pre-upgrade',
              children: [],
            },
          ],
        },
      ],
    });
    expect(isRunningPerSnapshotList(derived.response.data)).toBe(true);
  });

  it('reads the recorded PVE 7.4 lists, before and after a description change', () => {
    for (const index of [5, 7]) {
      const data = recorded.interactions[index]?.response.body.data as ProxmoxSnapshotEntry[];
      const tree = snapshotListToTree(data);
      expect(tree.currentId).toBe('snapshot1');
      expect(tree.roots).toHaveLength(1);
      expect(tree.roots[0]).toMatchObject({
        id: 'snapshot1',
        createdAt: '2023-05-11T13:03:11.000Z',
        memory: false,
      });
      expect(isRunningPerSnapshotList(data)).toBe(false);
    }
    const described = recorded.interactions[7]?.response.body.data as ProxmoxSnapshotEntry[];
    expect(snapshotListToTree(described).roots[0]?.description).toBe('Snapshot 1');
  });

  it('a VM without snapshots has no current one', () => {
    expect(
      snapshotListToTree([
        { name: 'current', description: 'You are here!', running: 0, digest: 'x' },
      ]),
    ).toEqual({ currentId: null, roots: [] });
  });

  it('orders children by time, keeps orphans as roots and survives a cycle', () => {
    const tree = snapshotListToTree([
      { name: 'b', snaptime: 20, parent: 'root' },
      { name: 'a', snaptime: 10, parent: 'root' },
      { name: 'root', snaptime: 1 },
      { name: 'orphan', snaptime: '5', parent: 'gone' },
      { name: 'x', snaptime: 30, parent: 'y' },
      { name: 'y', snaptime: 31, parent: 'x' },
      { name: 'current', parent: 'b' },
    ]);
    expect(tree.roots.map((root) => root.id)).toEqual(['root', 'orphan', 'y']);
    expect(tree.roots[0]?.children.map((child) => child.id)).toEqual(['a', 'b']);
    expect(findSnapshot(tree, 'x')?.parentId).toBe('y');
    expect(findSnapshot(tree, 'y')?.parentId).toBeUndefined();
    expect(tree.currentId).toBe('b');
  });

  it('any list in Perl hash order gives the same tree, with every snapshot once', () => {
    const chain = fc
      .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/), { minLength: 1, maxLength: 12 })
      .filter((names) => !names.includes('current'))
      .chain((names) =>
        fc.tuple(
          fc.constant(names),
          fc.array(fc.nat(), { minLength: names.length, maxLength: names.length }),
          fc.nat({ max: names.length - 1 }),
        ),
      )
      .map(([names, picks, current]) =>
        names
          .map(
            (name, index): ProxmoxSnapshotEntry => ({
              name,
              snaptime: 1000 + index,
              vmstate: index % 2,
              description: '',
              ...(index === 0 ? {} : { parent: names[(picks[index] ?? 0) % index] }),
            }),
          )
          .concat([{ name: 'current', parent: names[current] }]),
      );
    fc.assert(
      fc.property(chain, fc.infiniteStream(fc.nat()), (entries, seeds) => {
        const shuffled = [...entries]
          .map((entry) => ({ entry, key: seeds.next().value }))
          .sort((a, b) => a.key - b.key)
          .map((item) => item.entry);
        const tree = snapshotListToTree(shuffled);
        expect(tree).toEqual(snapshotListToTree(entries));
        const seen: string[] = [];
        const walk = (items: typeof tree.roots) => {
          for (const item of items) {
            seen.push(item.id);
            walk(item.children);
          }
        };
        walk(tree.roots);
        expect(seen.sort()).toEqual(
          entries
            .filter((e) => e.name !== 'current')
            .map((e) => e.name)
            .sort(),
        );
        expect(tree.roots).toHaveLength(1);
      }),
      { numRuns: 200 },
    );
  });
});
