/**
 * vSphere tasks in the states vcsim never shows (queued, running with progress, canceled),
 * observed through the real provider and driver against the local fake vim25 server: the
 * provider pushes with WaitForUpdatesEx (no polling), resumes a task in a second instance and
 * cancels with CancelTask.
 */
import { ConflictError, systemClock, TaskFailedError } from '@hvkit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createVsphereProvider } from '../src/vsphere-provider.js';
import { decodeTaskId, encodeTaskId } from '../src/vsphere-task-id.js';
import {
  elementText,
  FAKE_PASSWORD,
  type FakeHandler,
  FakeVimServer,
  fakeDriver,
  fakeProvider,
  loadFixture,
  sessionHandlers,
  soapResponse,
  watchHandlers,
} from './fake-vim-server.js';

const VM_REF = { provider: 'vc', id: 'vm-42' };
const QUEUED = loadFixture('synthetic-vcenter-WaitForUpdatesEx-Task-queued.res.xml');
const RUNNING_10 = loadFixture('synthetic-vcenter-WaitForUpdatesEx-Task-running-10.res.xml');
const RUNNING_60 = loadFixture('synthetic-vcenter-WaitForUpdatesEx-Task-running-60.res.xml');
const SUCCESS = loadFixture('synthetic-vcenter-WaitForUpdatesEx-Task-success.res.xml');
const TIMED_OUT = loadFixture('WaitForUpdatesEx-timeout.res.xml');
const FAILED = loadFixture(
  'synthetic-vcenter-WaitForUpdatesEx-Task-error-InvalidPowerState.res.xml',
);
const CANCELED = loadFixture('synthetic-vcenter-WaitForUpdatesEx-Task-canceled.res.xml');

const servers: FakeVimServer[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const server of servers.splice(0)) await server.close();
});

async function taskServer(waits: readonly Parameters<FakeVimServer['sequence']>[1][number][]) {
  const server = await FakeVimServer.start({
    ...sessionHandlers(),
    ...watchHandlers(),
    PowerOnVM_Task: loadFixture('synthetic-vcenter-PowerOnVM_Task.res.xml'),
    // The watch's first read: the task has not ended, so WaitForUpdatesEx follows it.
    RetrievePropertiesEx: loadFixture('synthetic-vcenter-RetrievePropertiesEx-Task-queued.res.xml'),
    Logout: soapResponse('Logout'),
  });
  server.sequence('WaitForUpdatesEx', waits);
  servers.push(server);
  return server;
}

function vsphere(server: FakeVimServer) {
  const provider = createVsphereProvider({
    name: 'vc',
    url: server.url,
    username: 'administrator@vsphere.local',
    password: FAKE_PASSWORD,
    clock: systemClock,
  });
  closers.push(() => provider.close());
  return provider;
}

describe('a vSphere task observed through the provider', () => {
  it('reports queued, running 10 and 60, then success, pushed by WaitForUpdatesEx versions', async () => {
    const server = await taskServer([QUEUED, RUNNING_10, TIMED_OUT, RUNNING_60, SUCCESS]);
    const task = vsphere(server).powerOn(VM_REF);
    const events = [];
    for await (const event of task.progress()) events.push(event);
    expect(events).toEqual([
      { state: 'queued' },
      { state: 'running', percent: 10 },
      { state: 'running', percent: 60 },
      { state: 'succeeded', percent: 100 },
    ]);
    await expect(task).resolves.toBeUndefined();
    expect(task.state).toBe('succeeded');
    expect(task.snapshot?.finishedAt).toBe('2026-11-21T15:00:09.900Z');
    expect(decodeTaskId(task.id ?? '', 'vc')).toMatchObject({ k: 'vm.power-on', t: 'task-1' });

    await vi.waitFor(() => expect(server.calls('DestroyPropertyCollector')).toHaveLength(1));
    expect(server.methods()).toEqual([
      'RetrieveServiceContent',
      'Login',
      'PowerOnVM_Task',
      'RetrievePropertiesEx',
      'CreatePropertyCollector',
      'CreateFilter',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'DestroyPropertyCollector',
    ]);
    // No polling: Task.info is read once with RetrievePropertiesEx (a task that already ended
    // needs no collector), then only pushed; each long-poll carries the version of the previous
    // answer (the empty, timed-out answer keeps it).
    expect(server.calls('RetrievePropertiesEx')).toHaveLength(1);
    expect(
      server.calls('WaitForUpdatesEx').map((call) => elementText(call.body, 'version')),
    ).toEqual(['', '1', '2', '2', '3']);
    const collector = server.calls('CreatePropertyCollector')[0];
    expect(collector?.target).toEqual({ type: 'PropertyCollector', value: 'propertyCollector' });
    // The watch runs on its own collector, filtered on the task's info, and destroys it.
    const own = 'session[8287bc17-73c9-4e0c-aa89-42aa4510b123]dfae1fe7-67fc-439a-be40-807eb3a25389';
    const filter = server.calls('CreateFilter')[0]?.body ?? '';
    expect(server.calls('CreateFilter')[0]?.target?.value).toBe(own);
    expect(filter).toContain('<obj type="Task">task-1</obj>');
    expect(elementText(filter, 'pathSet')).toBe('info');
    expect(elementText(filter, 'partialUpdates')).toBe('false');
    for (const call of server.calls('WaitForUpdatesEx')) expect(call.target?.value).toBe(own);
    expect(server.calls('DestroyPropertyCollector')[0]?.target?.value).toBe(own);
    expect(server.unhandled).toEqual([]);
  });

  it('a task that ends in error with InvalidPowerState rejects with ConflictError invalid-power-state', async () => {
    const server = await taskServer([QUEUED, FAILED]);
    const task = vsphere(server).powerOn(VM_REF);
    const error = await task.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-power-state');
    expect((error as ConflictError).provider).toBe('vc');
    expect(task.state).toBe('failed');
    expect(task.snapshot?.error).toMatchObject({ code: 'CONFLICT' });
    await vi.waitFor(() => expect(server.calls('DestroyPropertyCollector')).toHaveLength(1));
    expect(server.calls('WaitForUpdatesEx')).toHaveLength(2);
  });

  it('a task canceled on vCenter (RequestCanceled) ends in state canceled', async () => {
    const server = await taskServer([QUEUED, RUNNING_10, CANCELED]);
    const task = vsphere(server).powerOn(VM_REF);
    const events = [];
    for await (const event of task.progress()) events.push(event.state);
    expect(events).toEqual(['queued', 'running', 'canceled']);
    const error = await task.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(TaskFailedError.isInstance(error)).toBe(true);
    expect((error as TaskFailedError).details).toMatchObject({ state: 'canceled' });
    expect(task.state).toBe('canceled');
    expect(task.snapshot?.cancelable).toBe(false);
  });

  it('getTask from a second provider instance (resume) reports the running task with its progress', async () => {
    const server = await taskServer([]);
    server.on(
      'RetrievePropertiesEx',
      loadFixture('synthetic-vcenter-RetrievePropertiesEx-Task-running.res.xml'),
    );
    const started = vsphere(server).powerOn(VM_REF);
    const id = await started.submitted();

    const other = vsphere(server);
    const snapshot = await other.getTask(id);
    expect(snapshot).toMatchObject({
      id,
      provider: 'vc',
      kind: 'vm.power-on',
      state: 'running',
      progress: { percent: 42 },
      cancelable: true,
      createdAt: '2026-11-21T15:00:01.100Z',
      startedAt: '2026-11-21T15:00:01.250Z',
    });
    expect(snapshot.finishedAt).toBeUndefined();
    const read = server.calls('RetrievePropertiesEx');
    expect(read).toHaveLength(1);
    expect(read[0]?.body).toContain('<obj type="Task">task-1</obj>');
    expect(elementText(read[0]?.body ?? '', 'pathSet')).toBe('info');
    // Two instances, two sessions: the second logged in on its own.
    expect(server.calls('Login')).toHaveLength(2);

    const resumed = other.resumeTask(JSON.stringify(started));
    expect(resumed.id).toBe(id);
    await expect(resumed.refresh()).resolves.toMatchObject({ state: 'running' });
  });
});

describe('CancelTask', () => {
  it('the driver sends CancelTask on the task moref and nothing else', async () => {
    const server = await taskServer([]);
    server.on('CancelTask', loadFixture('synthetic-vcenter-CancelTask.res.xml'));
    const driver = fakeDriver(server);
    closers.push(() => driver.close());
    const taskId = encodeTaskId({ k: 'vm.power-on', v: 'vm-42', t: 'task-1' });
    await driver.cancelTask(taskId, {});
    expect(server.methods()).toEqual(['RetrieveServiceContent', 'Login', 'CancelTask']);
    expect(server.calls('CancelTask')[0]?.target).toEqual({ type: 'Task', value: 'task-1' });
  });

  it('a guest operation (not a vSphere task) cannot be canceled, and nothing is sent', async () => {
    const server = await taskServer([]);
    const driver = fakeDriver(server);
    closers.push(() => driver.close());
    const taskId = encodeTaskId({ k: 'vm.shutdown', v: 'vm-42', ps: 'poweredOff', at: 1 });
    const error = await driver.cancelTask(taskId, {}).catch((reason: unknown) => reason);
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
    expect(server.requests).toEqual([]);
  });

  it('vCenter refusing CancelTask (InvalidState: the task already ended) surfaces as ConflictError invalid-state', async () => {
    const server = await taskServer([]);
    server.on('CancelTask', loadFixture('synthetic-vcenter-fault-InvalidState-CancelTask.res.xml'));
    const driver = fakeDriver(server);
    closers.push(() => driver.close());
    const taskId = encodeTaskId({ k: 'vm.power-on', v: 'vm-42', t: 'task-1' });
    const error = await driver.cancelTask(taskId, {}).catch((reason: unknown) => reason);
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
  });

  it('with core.taskCancel declared, task.cancel() on a running task sends CancelTask and the task ends canceled', async () => {
    let canceled: () => void = () => {};
    const cancelArrived = new Promise<void>((resolve) => {
      canceled = resolve;
    });
    // The third long-poll blocks until CancelTask arrives, then reports the cancellation.
    const afterCancel: FakeHandler = async () => {
      await cancelArrived;
      return CANCELED;
    };
    const server = await taskServer([QUEUED, RUNNING_10, afterCancel]);
    server.on('CancelTask', () => {
      canceled();
      return loadFixture('synthetic-vcenter-CancelTask.res.xml');
    });
    const provider = fakeProvider(server, {
      declare: { 'core.taskCancel': { level: 'partial', note: 'fixture-proven' } },
    });
    closers.push(() => provider.close());
    const task = provider.powerOn(VM_REF);
    const states: string[] = [];
    for await (const event of task.progress()) {
      states.push(event.state);
      if (event.state === 'running') await task.cancel();
    }
    expect(states).toEqual(['queued', 'running', 'canceled']);
    expect(task.state).toBe('canceled');
    expect(server.calls('CancelTask').map((call) => call.target)).toEqual([
      { type: 'Task', value: 'task-1' },
    ]);
    await vi.waitFor(() => expect(server.calls('DestroyPropertyCollector')).toHaveLength(1));
  });
});
