import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import samples from './__fixtures__/responses.json' with { type: 'json' };
import {
  accessTicketSchema,
  clusterResourceSchema,
  nextIdSchema,
  nodeListItemSchema,
  qemuListItemSchema,
  taskListItemSchema,
  taskLogLineSchema,
  taskStatusSchema,
  versionSchema,
} from './response-schemas.js';

describe('response schemas parse real answers', () => {
  it('version (PVE 6) and nextid as a string', () => {
    expect(versionSchema.parse(samples['version-pve6'].data)).toMatchObject({
      version: '6.2-4',
      release: '6.2',
    });
    expect(nextIdSchema.parse(samples['nextid-pve6'].data)).toBe(100);
  });

  it('access ticket (PVE 8)', () => {
    expect(accessTicketSchema.parse(samples['access-ticket-pve8'].data)).toMatchObject({
      username: 'root@pam',
    });
  });

  it('nodes (PVE 7) and cluster resources (PVE 8), keeping unknown keys', () => {
    const nodes = z.array(nodeListItemSchema).parse(samples['nodes-pve7'].data);
    expect(nodes.map((node) => node.node)).toEqual(['node1', 'node2', 'node3', 'node4']);
    const resources = z.array(clusterResourceSchema).parse(samples['cluster-resources-pve8'].data);
    const template = resources.find((resource) => resource.id === 'qemu/101');
    expect(template).toMatchObject({ vmid: 101, template: true, node: 'node1' });
    expect(resources.find((resource) => resource.type === 'node')).toHaveProperty('cgroup-mode');
  });

  it('PVE 6 qemu list: string vmid, "" template, null pid', () => {
    const [vm] = z.array(qemuListItemSchema).parse(samples['qemu-list-pve6'].data);
    expect(vm).toMatchObject({ vmid: 100, template: false, status: 'stopped' });
    expect(vm?.pid).toBeUndefined();
  });

  it('task status (running, stopped), log lines and the task list', () => {
    expect(taskStatusSchema.parse(samples['task-status'].running)).toMatchObject({
      status: 'running',
      id: '9000',
    });
    expect(taskStatusSchema.parse(samples['task-status'].stoppedOk)).toMatchObject({
      exitstatus: 'OK',
    });
    expect(taskStatusSchema.parse(samples['task-status-running-pve7'].data)).toMatchObject({
      type: 'qmconfig',
    });
    expect(z.array(taskLogLineSchema).parse(samples['task-status'].log.data).at(-1)).toEqual({
      n: 3,
      t: 'TASK OK',
    });
    const list = z.array(taskListItemSchema).parse(samples['task-list-pve6'].data);
    expect(list[0]).toMatchObject({ status: 'connection timed out', endtime: 1606311546 });
  });

  it('refuses a task status whose upid is malformed', () => {
    expect(
      taskStatusSchema.safeParse({ ...samples['task-status'].running, upid: 'UPID:bad' }).success,
    ).toBe(false);
  });
});
