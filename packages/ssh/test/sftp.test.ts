// SFTP helpers against a real sshd's sftp-server: 8 MiB up and down with SHA-256, ranged and
// resumed transfers, stat, unlink, missing files, and memory that stays flat.
import { createHash, randomBytes } from 'node:crypto';
import { HvkitError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSshTransport } from '../src/index.js';
import { type SshdBed, startSshdBed } from './sshd-bed.js';

const bed = await startSshdBed();

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function* chunks(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    // A view, not a copy, and not a Buffer: the helper must take plain Uint8Arrays.
    yield new Uint8Array(
      data.buffer,
      data.byteOffset + offset,
      Math.min(size, data.length - offset),
    );
  }
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

describe.skipIf(!bed)('SFTP against a real sshd', () => {
  const target = bed as SshdBed;
  const ssh = createSshTransport({
    host: target.host,
    port: target.port,
    username: target.username,
    privateKey: target.privateKey,
    hostKey: { fingerprint256: target.hostKeyFingerprint256 },
  });
  const sftp = ssh.sftp();
  const base = `/tmp/hvkit-sftp-${process.pid}-${Date.now()}`;
  afterAll(async () => {
    await ssh.exec(['sh', '-c', 'rm -f "$1"*', 'sh', base]).catch(() => undefined);
    await ssh.close();
    await target.stop();
  });

  it('uploads 8 MiB from an async iterable and the remote sha256sum matches', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const path = `${base}-up`;
    const progress: number[] = [];
    await sftp.stat('/'); // connection and SFTP session up before timing
    const started = performance.now();
    const { bytes } = await sftp.upload(path, chunks(data, 100_000), {
      onProgress: (written) => progress.push(written),
    });
    const seconds = (performance.now() - started) / 1000;
    console.info(`[ssh] 8 MiB SFTP upload: ${(8 / seconds).toFixed(0)} MiB/s`);
    expect(bytes).toBe(data.length);
    expect(progress.at(-1)).toBe(data.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const remote = await ssh.exec(['sha256sum', path]);
    expect(remote.stdout.toString().split(' ')[0]).toBe(sha256(data));
    const stat = await sftp.stat(path);
    expect(stat).toMatchObject({ size: data.length, isFile: true, isDirectory: false });
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it('downloads 8 MiB whole and from an offset, byte-exact', async () => {
    const path = `${base}-down`;
    await ssh.exec(['sh', '-c', 'head -c 8388608 /dev/urandom > "$1"', 'sh', path]);
    const expected = (await ssh.exec(['cat', path])).stdout;
    expect(expected.length).toBe(8 * 1024 * 1024);
    const started = performance.now();
    const whole = await collect(sftp.download(path));
    const seconds = (performance.now() - started) / 1000;
    console.info(`[ssh] 8 MiB SFTP download: ${(8 / seconds).toFixed(0)} MiB/s`);
    expect(sha256(whole)).toBe(sha256(expected));
    const offset = 3 * 1024 * 1024 + 12_345;
    const tail = await collect(sftp.download(path, { offset }));
    expect(sha256(tail)).toBe(sha256(expected.subarray(offset)));
    const middle = await collect(
      sftp.download(path, { offset: 1000, length: 70_000, chunkBytes: 4096 }),
    );
    expect(middle.equals(expected.subarray(1000, 71_000))).toBe(true);
  });

  it('uploads from a source that reuses one buffer, in odd and oversized chunks', async () => {
    const path = `${base}-reuse`;
    const buffer = Buffer.alloc(700_001);
    const hash = createHash('sha256');
    async function* reusing(): AsyncGenerator<Uint8Array> {
      for (let index = 0; index < 12; index++) {
        // The same memory, overwritten after every yield, in sizes around the request limit.
        const size = [1, 4093, 700_001, 253_952, 253_953, 65_536][index % 6] ?? 1;
        buffer.fill(index + 1, 0, size);
        hash.update(buffer.subarray(0, size));
        yield buffer.subarray(0, size);
      }
    }
    const { bytes } = await sftp.upload(path, reusing());
    const remote = await ssh.exec(['sha256sum', path]);
    expect(remote.stdout.toString().split(' ')[0]).toBe(hash.digest('hex'));
    expect((await sftp.stat(path)).size).toBe(bytes);
  });

  it('resumes an upload at an offset without truncating', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const path = `${base}-resume`;
    const cut = 1024 * 1024 + 7;
    await sftp.upload(path, chunks(data.subarray(0, cut), 65_536));
    await sftp.upload(path, chunks(data.subarray(cut), 65_536), { offset: cut });
    expect((await sftp.stat(path)).size).toBe(data.length);
    expect(sha256(await collect(sftp.download(path)))).toBe(sha256(data));
  });

  it('stops reading when the consumer stops, and the file can then be removed', async () => {
    const path = `${base}-down`;
    let seen = 0;
    for await (const part of sftp.download(path)) {
      seen += part.length;
      if (seen >= 200_000) break;
    }
    expect(seen).toBeLessThan(8 * 1024 * 1024);
    await sftp.unlink(path);
    const error = await sftp.stat(path).catch((caught: unknown) => caught);
    expect(HvkitError.hasCode(error, 'NOT_FOUND')).toBe(true);
  });

  it('missing files and directories are NotFoundError; permission denied is a ProviderApiError', async () => {
    const unlinkError = await sftp.unlink(`${base}-never`).catch((caught: unknown) => caught);
    expect(HvkitError.hasCode(unlinkError, 'NOT_FOUND')).toBe(true);
    const downloadError = await collect(sftp.download(`${base}-never`)).catch(
      (caught: unknown) => caught,
    );
    expect(HvkitError.hasCode(downloadError, 'NOT_FOUND')).toBe(true);
    const uploadError = await sftp
      .upload(`${base}-no-such-dir/file`, chunks(Buffer.from('x'), 1))
      .catch((caught: unknown) => caught);
    expect(HvkitError.hasCode(uploadError, 'NOT_FOUND')).toBe(true);
    const denied = await sftp
      .upload('/etc/hvkit-sftp-denied', chunks(Buffer.from('x'), 1))
      .catch((caught: unknown) => caught);
    expect(HvkitError.hasCode(denied, 'PROVIDER_API')).toBe(true);
    expect((denied as HvkitError).message).toContain('SSH_FX_PERMISSION_DENIED');
  });

  it('uploads 64 MiB with flat memory (source generated lazily)', async () => {
    const path = `${base}-big`;
    const block = randomBytes(256 * 1024);
    const hash = createHash('sha256');
    async function* lazy(): AsyncGenerator<Uint8Array> {
      for (let index = 0; index < 256; index++) {
        hash.update(block);
        yield block;
      }
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    const started = performance.now();
    await sftp.upload(path, lazy());
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    console.info(
      `[ssh] 64 MiB SFTP upload: ${(64 / seconds).toFixed(0)} MiB/s, rss grew ${((peak - before) / 1048576).toFixed(1)} MiB`,
    );
    // The whole file would be 64 MiB; in-flight writes are capped at 4 MiB.
    expect(peak - before).toBeLessThan(48 * 1024 * 1024);
    const remote = await ssh.exec(['sha256sum', path]);
    expect(remote.stdout.toString().split(' ')[0]).toBe(hash.digest('hex'));
  });
});
