import { createHash } from 'node:crypto';
import {
  ConflictError,
  InvalidSpecError,
  TaskFailedError,
  type TaskProgressEvent,
  type VmSpecInput,
} from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { BLANK_HEADER_BYTES, CHUNK_BYTES, ChunkWriter, readBytes } from './mock-disk-bytes.js';
import { createMockProvider, type MockProvider } from './mock-provider.js';

const MIB = 2 ** 20;

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) {
    // Let other work (the task's watchers) run between chunks, as a network stream would.
    await new Promise((resolve) => setImmediate(resolve));
    yield bytes.slice(offset, offset + size);
  }
}

function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + 7) & 0xff;
  // A zero mebibyte in the middle must come back as zeros without being stored.
  bytes.fill(0, MIB, 2 * MIB);
  return bytes;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const vmSpec = (name: string, sizeGiB: number, sourceImageId?: string): VmSpecInput => ({
  name,
  cpu: { count: 1 },
  memory: { sizeMiB: 512 },
  disks: [{ sizeGiB, ...(sourceImageId ? { sourceImageId } : {}) }],
});

async function exportAll(
  provider: MockProvider,
  vm: { ref: { provider: string; id: string } },
  diskId: string,
  offsetBytes = 0,
) {
  const disk = await provider.exportDisk(vm.ref, diskId, { offsetBytes });
  return { disk, bytes: await collect(disk.stream) };
}

describe('sparse chunk store', () => {
  it('reads absent and short chunks as zeros, from any offset', async () => {
    const chain = [new Map([[1, new Uint8Array([1, 2, 3])]])];
    const all = await collect(readBytes(chain, 2 * CHUNK_BYTES + 10, 0));
    expect(all.length).toBe(2 * CHUNK_BYTES + 10);
    expect([...all.subarray(CHUNK_BYTES - 1, CHUNK_BYTES + 4)]).toEqual([0, 1, 2, 3, 0]);
    const tail = await collect(readBytes(chain, 2 * CHUNK_BYTES + 10, CHUNK_BYTES + 1));
    expect(tail.equals(all.subarray(CHUNK_BYTES + 1))).toBe(true);
    expect((await collect(readBytes(chain, 10, 10))).length).toBe(0);
  });

  it('stores only non-zero chunks and hashes everything written', () => {
    const writer = new ChunkWriter();
    const bytes = pattern(3 * MIB + 5);
    for (let offset = 0; offset < bytes.length; offset += 65_536) {
      writer.write(bytes.subarray(offset, offset + 65_536));
    }
    expect(writer.finish()).toBe(sha256(bytes));
    expect([...writer.chunks.keys()]).toEqual([0, 2, 3]);
    expect(writer.chunks.get(3)?.byteLength).toBe(5);
  });

  it('stops reading when the signal aborts', async () => {
    const controller = new AbortController();
    const stream = readBytes([new Map()], 10 * CHUNK_BYTES, 0, controller.signal);
    let chunks = 0;
    const reading = (async () => {
      for await (const _chunk of stream) {
        chunks += 1;
        if (chunks === 2) controller.abort(new Error('stop'));
      }
    })();
    await expect(reading).rejects.toThrow('stop');
    expect(chunks).toBe(2);
  });
});

describe('disk export and import', () => {
  it('keeps a large blank disk sparse and exports exactly its size', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const big = await provider.create(vmSpec('big', 20));
    expect(big.disks[0]?.sizeBytes).toBe(20 * 2 ** 30);
    expect(provider.backend.storedBytes).toBeLessThan(4096);
    const small = await provider.create(vmSpec('small', 3 / 1024));
    const diskId = small.disks[0]?.id as string;
    const { disk, bytes } = await exportAll(provider, small, diskId);
    expect(disk).toMatchObject({ diskId, sizeBytes: 3 * MIB, offsetBytes: 0, format: 'vmdk' });
    expect(bytes.length).toBe(3 * MIB);
    expect(bytes.subarray(0, 16).toString('latin1')).toBe('HVKIT-MOCK-DISK\0');
    expect([bytes[510], bytes[511]]).toEqual([0x55, 0xaa]);
    expect(bytes.subarray(BLANK_HEADER_BYTES).every((byte) => byte === 0)).toBe(true);
    const offset = 123_457;
    const resumed = await exportAll(provider, small, diskId, offset);
    expect(resumed.bytes.length).toBe(3 * MIB - offset);
    expect(resumed.bytes.equals(bytes.subarray(offset))).toBe(true);
    await expect(
      provider.exportDisk(small, diskId, { offsetBytes: 3 * MIB + 1 }),
    ).rejects.toSatisfy(InvalidSpecError.isInstance);
  });

  it('imports a stream with byte progress and round-trips it through a new VM', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const bytes = pattern(3 * MIB + 4096);
    const task = provider.importDisk(
      { name: 'payload', format: 'raw', sizeBytes: bytes.length, sha256: sha256(bytes) },
      chunked(bytes, 256 * 1024),
    );
    const events: TaskProgressEvent[] = [];
    for await (const event of task.progress()) events.push(event);
    const image = await task;
    expect(image).toMatchObject({
      name: 'payload',
      format: 'raw',
      sizeBytes: bytes.length,
      source: { kind: 'disk' },
      sha256: sha256(bytes),
      cached: false,
    });
    const done = events.map((event) => event.bytesDone);
    expect(new Set(done).size).toBeGreaterThanOrEqual(3);
    expect(events.at(-1)).toMatchObject({
      state: 'succeeded',
      bytesDone: bytes.length,
      bytesTotal: bytes.length,
    });
    // Only the non-zero mebibytes are stored.
    expect(provider.backend.storedBytes).toBeLessThan(bytes.length);
    const vm = await provider.create(vmSpec('restored', 4 / 1024, image.id));
    const { bytes: exported } = await exportAll(provider, vm, vm.disks[0]?.id as string);
    expect(exported.length).toBe(4 * MIB);
    expect(exported.subarray(0, bytes.length).equals(Buffer.from(bytes))).toBe(true);
    expect(exported.subarray(bytes.length).every((byte) => byte === 0)).toBe(true);
    await expect(provider.create(vmSpec('too-small', 2 / 1024, image.id))).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'disks[0].sizeGiB',
    );
  });

  it('migrates a disk Mock → Mock byte for byte', async () => {
    const source = createMockProvider({ name: 'source', seed: 1, taskDurationMs: 0 });
    const target = createMockProvider({ name: 'target', seed: 2, taskDurationMs: 0 });
    const original = await source.create(vmSpec('app', 2 / 1024));
    const diskId = original.disks[0]?.id as string;
    const exported = await source.exportDisk(original, diskId);
    const image = await target.importDisk(
      { name: 'app-disk', format: exported.format, sizeBytes: exported.sizeBytes },
      exported.stream,
    );
    const copy = await target.create(vmSpec('app', 2 / 1024, image.id));
    const before = (await exportAll(source, original, diskId)).bytes;
    const after = (await exportAll(target, copy, copy.disks[0]?.id as string)).bytes;
    expect(sha256(after)).toBe(sha256(before));
    expect(after.subarray(0, 64).toString('latin1')).toContain(diskId);
  });

  it('fails an import whose length or hash differs, storing nothing', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const bytes = pattern(MIB + 10);
    const short = provider.importDisk(
      { name: 'short', format: 'raw', sizeBytes: bytes.length + 1 },
      chunked(bytes, 65_536),
    );
    await expect(short).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'sizeBytes',
    );
    const long = provider.importDisk(
      { name: 'long', format: 'raw', sizeBytes: bytes.length - 1 },
      chunked(bytes, 65_536),
    );
    await expect(long).rejects.toSatisfy(InvalidSpecError.isInstance);
    const wrongHash = provider.importDisk(
      { name: 'hash', format: 'raw', sizeBytes: bytes.length, sha256: '0'.repeat(64) },
      chunked(bytes, 65_536),
    );
    await expect(wrongHash).rejects.toSatisfy(
      (error) => InvalidSpecError.isInstance(error) && error.issues[0]?.path === 'sha256',
    );
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      throw new Error('connection reset');
    }
    const failing = provider.importDisk(
      { name: 'broken', format: 'raw', sizeBytes: 100 },
      broken(),
    );
    await expect(failing).rejects.toSatisfy(
      (error) => TaskFailedError.isInstance(error) && /connection reset/.test(error.message),
    );
    expect(await provider.listImages()).toEqual([]);
    expect(provider.backend.blobCount).toBe(0);
  });

  it('stops reading and stores nothing when an import is cancelled', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    let released = false;
    let sent = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          sent += 1;
          yield new Uint8Array(1024).fill(1);
        }
      } finally {
        released = true;
      }
    }
    const task = provider.importDisk(
      { name: 'endless', format: 'raw', sizeBytes: 10 * MIB },
      endless(),
    );
    await task.submitted();
    while (sent < 3) await new Promise((resolve) => setTimeout(resolve, 1));
    await task.cancel();
    await expect(task).rejects.toThrow(/canceled/);
    while (!released) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(await provider.listImages()).toEqual([]);
  });

  it('shares a linked clone parent chunks and refuses to export a running disk without a snapshot', async () => {
    const provider = createMockProvider({ taskDurationMs: 0 });
    const image = await provider.importDisk(
      { name: 'base', format: 'raw', sizeBytes: 2 * MIB },
      chunked(pattern(2 * MIB), MIB),
    );
    const parent = await provider.create({
      ...vmSpec('parent', 2 / 1024, image.id),
      powerState: 'on',
    });
    const diskId = parent.disks[0]?.id as string;
    await expect(provider.exportDisk(parent, diskId)).rejects.toSatisfy(
      (error) => ConflictError.isInstance(error) && error.reason === 'invalid-power-state',
    );
    await provider.createSnapshot(parent, { name: 'frozen' });
    const stored = provider.backend.storedBytes;
    const linked = await provider.clone(parent, { name: 'child', mode: 'linked' });
    expect(provider.backend.storedBytes).toBe(stored);
    expect(linked.disks[0]?.parentId).toBe(diskId);
    const fromParent = (await exportAll(provider, parent, diskId)).bytes;
    const fromChild = (await exportAll(provider, linked, linked.disks[0]?.id as string)).bytes;
    expect(fromChild.equals(fromParent)).toBe(true);
    // The child keeps its bytes after the parent is gone.
    await provider.delete(parent);
    const orphan = (await exportAll(provider, linked, linked.disks[0]?.id as string)).bytes;
    expect(orphan.equals(fromParent)).toBe(true);
  });
});
