/**
 * hvkit end to end on the Mock: no server needed. Run with `pnpm run demo`.
 *
 * Creates VMs from a spec, powers them, reconfigures (live and at rest), builds a snapshot tree,
 * makes a linked clone, follows a long task's progress (and resumes it from JSON on a second
 * client of the same backend), and prints the capability matrix. Exits non-zero if any step does
 * not behave as the contract says.
 */
import {
  CAPABILITY_CATALOG,
  CAPABILITY_CATEGORIES,
  CAPABILITY_IDS,
  ConflictError,
  type Snapshot,
  type Task,
  type Vm,
  type VmSpecInput,
} from '@hvkit/core';
import { createMockBackend, createMockProvider } from '@hvkit/mock';

const out = (line = '') => process.stdout.write(`${line}\n`);
const heading = (title: string) =>
  out(`\n== ${title} ${'='.repeat(Math.max(0, 72 - title.length))}`);

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`demo check failed: ${message}`);
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(0)} GiB`;

function describeVm(vm: Vm): string {
  const disks = vm.disks
    .map((disk) => `${gib(disk.sizeBytes)} ${disk.provisioning ?? ''}@${disk.storage ?? '-'}`)
    .join(', ');
  const nics = vm.nics
    .map((nic) => `${nic.network}${nic.vlan ? `/vlan${nic.vlan}` : ''} ${nic.mac}`)
    .join(', ');
  return `${vm.name.padEnd(10)} ${vm.ref.id.padEnd(10)} ${vm.powerState.padEnd(9)} ${vm.cpu.count} vCPU ${vm.memory.sizeMiB} MiB | disks: ${disks} | nics: ${nics}`;
}

function printTree(nodes: Snapshot[], currentId: string | null, indent = '  '): void {
  for (const node of nodes) {
    const marks = [node.memory ? 'memory' : 'disk only', node.id === currentId ? 'CURRENT' : '']
      .filter(Boolean)
      .join(', ');
    out(`${indent}${node.name} (${node.id}; ${marks})`);
    printTree(node.children, currentId, `${indent}  `);
  }
}

async function showProgress(task: Task<unknown>, label: string): Promise<number> {
  let events = 0;
  for await (const event of task.progress()) {
    events += 1;
    const percent = Math.round(event.percent ?? 0);
    const bar = '#'.repeat(Math.round(percent / 5)).padEnd(20, '.');
    const bytes = event.bytesTotal
      ? ` ${(event.bytesDone ?? 0) >> 20}/${event.bytesTotal >> 20} MiB`
      : '';
    out(
      `  ${label} [${bar}] ${String(percent).padStart(3)}% ${event.state}${bytes}${event.message ? ` — ${event.message}` : ''}`,
    );
  }
  return events;
}

const webSpec = (name: string, hotAdd: boolean): VmSpecInput => ({
  name,
  description: 'demo web server <tier=web & env="prod">',
  cpu: { count: 2, coresPerSocket: 2, hotAdd },
  memory: { sizeMiB: 4096, hotAdd },
  disks: [
    { name: 'os', sizeGiB: 20, provisioning: 'thin', bus: 'scsi', storage: 'datastore1' },
    { name: 'data', sizeGiB: 50, provisioning: 'thick', storage: 'datastore2' },
  ],
  nics: [
    { network: 'VM Network', model: 'vmxnet3', ipv4: 'dhcp' },
    {
      network: 'dvs-prod',
      connection: 'distributed',
      vlan: 120,
      ipv4: { address: `10.20.0.${name.endsWith('1') ? 11 : 12}/24`, gateway: '10.20.0.1' },
    },
  ],
  cloudInit: { userData: '#cloud-config\npackages: [nginx]\n' },
  tags: { tier: 'web', env: 'demo' },
});

async function main(): Promise<void> {
  // One simulated datacenter, two clients of it: the second resumes a task the first started.
  const backend = createMockBackend({ seed: 42 });
  const durations = { 'image.import': 2_400, 'vm.clone': 400, 'vm.create': 150 };
  const provider = createMockProvider({ name: 'lab', backend, taskDurationMs: durations });
  const secondClient = createMockProvider({ name: 'lab', backend, taskDurationMs: durations });

  heading('validate');
  const report = await provider.validate();
  out(`  ${report.type} ${report.version} — ${JSON.stringify(report.details)}`);

  heading('create VMs from a spec');
  const created = await Promise.all([
    provider.create(webSpec('web-1', false), { idempotencyKey: 'demo-web-1' }),
    provider.create(webSpec('web-2', true), { idempotencyKey: 'demo-web-2' }),
  ]);
  for (const vm of created) out(`  ${describeVm(vm)}`);
  const retried = await provider.create(webSpec('web-1', false), { idempotencyKey: 'demo-web-1' });
  check(retried.ref.id === created[0]?.ref.id, 'an idempotent retry returns the same VM');
  out(`  retry with idempotency key demo-web-1 → same VM ${retried.ref.id}, no duplicate`);
  const [web1, web2] = created as [Vm, Vm];

  heading('power');
  await Promise.all(created.map((vm) => provider.powerOn(vm)));
  for (const vm of created) out(`  ${describeVm(await provider.get(vm))}`);
  try {
    await provider.powerOn(web1);
    check(false, 'powering on a running VM must be a conflict');
  } catch (error) {
    check(
      ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
      'conflict reason',
    );
    out(`  powerOn(web-1) again → ${error.name} (${error.reason}): ${error.message}`);
  }
  const guest = await provider.getGuestInfo(web1);
  out(
    `  guest of web-1: tools ${guest.toolsState}, hostname ${guest.hostname}, IPs ${guest.ipAddresses.join(', ')}`,
  );

  heading('reconfigure');
  const liveCheck = await provider.can(web1, 'resources.cpu');
  out(`  can(web-1 running, resources.cpu) → ${liveCheck.ok} — ${liveCheck.reason}`);
  const hot = await provider.reconfigure(web2, { cpu: { count: 4 }, memory: { sizeMiB: 8192 } });
  out(
    `  web-2 (hot-add on, running): applied live ${hot.applied.join(', ')}; pending ${hot.pendingRestart.join(', ') || 'nothing'}`,
  );
  await provider.shutdown(web1);
  const cold = await provider.reconfigure(web1, {
    cpu: { count: 4, coresPerSocket: 2 },
    memory: { sizeMiB: 8192 },
    resizeDisks: [{ diskId: web1.disks[0]?.id ?? '', sizeGiB: 40 }],
  });
  out(`  web-1 (shut down): applied ${cold.applied.join(', ')}`);
  out(`  ${describeVm(cold.vm)}`);
  check(
    cold.vm.cpu.count === 4 && cold.vm.disks[0]?.sizeBytes === 40 * 2 ** 30,
    'reconfigure applied',
  );

  heading('snapshot tree');
  const base = await provider.createSnapshot(web1, { name: 'base', description: 'fresh install' });
  await provider.powerOn(web1);
  const patched = await provider.createSnapshot(web1, { name: 'patched', memory: true });
  await provider.createSnapshot(web1, { name: 'hotfix', quiesce: true });
  await provider.revertSnapshot(web1, base.id);
  await provider.createSnapshot(web1, { name: 'experiment' });
  const tree = await provider.listSnapshots(web1);
  printTree(tree.roots, tree.currentId);
  check(tree.roots.length === 1 && tree.roots[0]?.children.length === 2, 'base has two branches');
  await provider.revertSnapshot(web1, patched.id);
  out(
    `  reverted to 'patched' (memory snapshot) → web-1 is ${(await provider.get(web1)).powerState}`,
  );

  heading('linked clone');
  const clone = await provider.clone(web1, {
    name: 'web-1-clone',
    mode: 'linked',
    snapshotId: base.id,
  });
  out(`  ${describeVm(clone)}`);
  out(`  disks backed by: ${clone.disks.map((disk) => disk.parentId).join(', ')}`);
  check(
    clone.disks.every((disk) => disk.parentId !== undefined),
    'linked clone disks have parents',
  );
  check(
    clone.nics.every((nic, index) => nic.mac !== web1.nics[index]?.mac),
    'a clone gets new MACs',
  );

  heading('a long task: import a cloud image');
  const importTask = provider.importImage(
    {
      kind: 'url',
      url: 'https://cloud-images.example/noble-server-cloudimg-amd64.img',
      format: 'qcow2',
    },
    { name: 'noble', storage: 'datastore1' },
  );
  await importTask.submitted();
  const json = JSON.stringify(importTask);
  out(`  task JSON (could be stored and resumed by another process): ${json}`);
  const resumed = secondClient.resumeTask(json);
  const events = await showProgress(resumed, 'noble');
  const image = await importTask;
  check(events >= 3, 'progress reported several times');
  out(
    `  image ${image.id}: ${image.format}, ${(image.sizeBytes / 2 ** 20).toFixed(0)} MiB, sha256 ${image.sha256?.slice(0, 16)}…`,
  );
  const again = await provider.importImage(
    {
      kind: 'url',
      url: 'https://cloud-images.example/noble-server-cloudimg-amd64.img',
      format: 'qcow2',
    },
    { name: 'noble', storage: 'datastore1' },
  );
  out(`  importing the same URL again → cached: ${again.cached}`);

  heading('capability matrix (Mock)');
  const marks = {
    supported: '✅',
    partial: '🟡',
    unsupported: '❌',
    'not-applicable': '➖',
  } as const;
  for (const [category, title] of Object.entries(CAPABILITY_CATEGORIES)) {
    const ids = CAPABILITY_IDS.filter((id) => CAPABILITY_CATALOG[id].category === category);
    const cells = ids.map(
      (id) => `${marks[provider.capabilities[id].level]} ${CAPABILITY_CATALOG[id].title}`,
    );
    out(`  ${title.padEnd(36)} ${cells.join('  ')}`);
  }
  const supported = CAPABILITY_IDS.filter(
    (id) => provider.capabilities[id].level === 'supported',
  ).length;
  out(
    `  ${supported}/${CAPABILITY_IDS.length} capabilities supported — full table: docs/capabilities.md`,
  );

  heading('clean up');
  for (const vm of [clone, web1, web2]) await provider.delete(vm);
  let left = 0;
  for await (const _vm of provider.list()) left += 1;
  check(left === 0, 'every VM deleted');
  out(
    `  deleted 3 VMs; ${left} left. Events recorded: ${(await provider.listEvents({ limit: 10_000 })).length}`,
  );
  await Promise.all([provider.close(), secondClient.close()]);
  out('\ndemo finished: every step behaved as the contract says.');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
