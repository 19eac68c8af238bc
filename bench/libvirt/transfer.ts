/**
 * Goal 3: a large volume up and down through hvkit's `uploadVolume`/`downloadVolume`, against
 * `cat` of the same bytes through OpenSSH over the ControlMaster; SHA-256 computed by the client
 * on every side; this process's RSS sampled during each transfer.
 *
 * Upload sides: `uploadVolume` (vol-create owned by the SSH user, `cat` into the volume's file,
 * vol-dumpxml; it hashes as it sends), the same forced through libvirt's stream
 * (`transfer: 'libvirt'`: `vol-upload … /dev/stdin`), `cat > /tmp/<file>` (mux), `cat > /dev/null`
 * (mux, the raw stream ceiling: no disk) and, as a diagnostic, `cat > /tmp/<file>` on hvkit's own
 * `@hvkit/ssh` connection.
 * Download sides: `downloadVolume` (`cat` of the volume's file), the same through libvirt's
 * stream (`virsh -q vol-download … /dev/stdout`), `cat /tmp/<file>` (mux), `head -c N
 * /dev/zero` (mux, ceiling) and `cat` on hvkit's connection.
 * The host user cannot write the pool directory (root-owned), so the `cat` file lives in the
 * host's /tmp (same disk). The bytes: one 4 MiB block from a seeded xorshift PRNG, sent again
 * and again (1 MiB chunks), so nothing large is ever held; SSH compression is off on both sides.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type SshConnection, shellCommand } from '@hvkit/ssh';
import {
  deleteVolume,
  downloadVolume,
  uploadVolume,
} from '../../packages/libvirt/src/storage/storage.js';
import type { Virsh } from '../../packages/libvirt/src/virsh/virsh.js';
import type { OpenSsh } from './openssh.js';
import { load1, pairedRatio, rssSampler, type Spread, spread } from './stats.js';

const MiB = 1024 * 1024;
const BLOCK_BYTES = 4 * MiB;
const CHUNK_BYTES = MiB;

/** One 4 MiB block of xorshift32 output from a fixed seed: the same bytes every run. */
function prngBlock(seed = 0x9e3779b9): Buffer {
  const words = new Uint32Array(BLOCK_BYTES / 4);
  let state = seed >>> 0;
  for (let index = 0; index < words.length; index++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    words[index] = state;
  }
  return Buffer.from(words.buffer);
}

/** `sizeBytes` of the repeated block in 1 MiB chunks, each also fed to `hash` when given. */
async function* source(block: Buffer, sizeBytes: number, hash?: Hash): AsyncGenerator<Buffer> {
  for (let at = 0; at < sizeBytes; at += CHUNK_BYTES) {
    const offset = at % BLOCK_BYTES;
    const chunk = block.subarray(offset, offset + Math.min(CHUNK_BYTES, sizeBytes - at));
    hash?.update(chunk);
    yield chunk;
  }
}

type UpSide =
  | 'uploadVolume'
  | 'uploadVolume (libvirt stream)'
  | 'cat > f (mux)'
  | 'cat > /dev/null (mux)'
  | 'cat > f (hvkit ssh)';
type DownSide =
  | 'downloadVolume'
  | 'downloadVolume (libvirt stream)'
  | 'cat f (mux)'
  | 'head /dev/zero (mux)'
  | 'cat f (hvkit ssh)';

/** Figures of one side: times, throughput and RSS growth of this process while it ran. */
export type TransferSide = Spread & {
  mibPerS: number;
  /** Largest peak-minus-baseline RSS over the rounds. */
  rssGrowthMiB: number;
  rssGrowthPerRoundMiB: number[];
};

/** Result of {@link benchTransfer}. */
export interface TransferResult {
  sizeMiB: number;
  rounds: number;
  sha256: string;
  /** SHA-256 of the bytes alone in this process (the hashing every side pays), ms. */
  hashAloneMs: number;
  upload: Record<UpSide, TransferSide>;
  download: Record<DownSide, TransferSide>;
  /** uploadVolume throughput / `cat > f` (mux) throughput (goal ≥ 0.8). */
  uploadRatio: number;
  /** downloadVolume throughput / `cat f` (mux) throughput (goal ≥ 0.8). */
  downloadRatio: number;
  /** Which way uploadVolume and downloadVolume (`transfer: 'auto'`) moved the bytes. */
  uploadVia: string;
  downloadVia: string;
  /** The same two through libvirt's stream (`transfer: 'libvirt'`), / the same `cat` peers. */
  uploadStreamRatio: number;
  downloadStreamRatio: number;
  /** Medians of the per-round throughput ratios (rounds are interleaved). */
  pairedUploadRatio: number;
  pairedDownloadRatio: number;
  loadPerRound: number[];
}

/** Feeds `input` to an OpenSSH child's stdin and waits for it; throws on a non-zero exit. */
async function openSshIn(openssh: OpenSsh, remote: string, input: AsyncIterable<Buffer>) {
  const child = openssh.spawn('mux', remote);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await pipeline(Readable.from(input), child.stdin as NodeJS.WritableStream);
  const code = await exited;
  if (code !== 0) throw new Error(`ssh ${remote} exited ${code}: ${stderr}`);
}

/** Hashes an OpenSSH child's stdout; returns hex digest and byte count. */
async function openSshOut(openssh: OpenSsh, remote: string) {
  const child = openssh.spawn('mux', remote);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`ssh ${remote} exited ${code}: ${stderr}`);
  return { sha256: hash.digest('hex'), bytes };
}

/** Hashes a stream; returns hex digest and byte count. */
async function hashStream(stream: AsyncIterable<Uint8Array>) {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.byteLength;
    hash.update(chunk);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Runs `rounds` interleaved rounds (starting side rotating): all uploads, then all downloads of
 * what was uploaded, then the volume and the file are removed. Every side's bytes are checked:
 * wrong length or digest throws.
 */
export async function benchTransfer(options: {
  virsh: Virsh;
  ssh: SshConnection;
  openssh: OpenSsh;
  pool: string;
  prefix: string;
  sizeMiB: number;
  rounds: number;
  log: (line: string) => void;
}): Promise<TransferResult> {
  const { virsh, ssh, openssh, pool, prefix, rounds } = options;
  const size = options.sizeMiB * MiB;
  const block = prngBlock();
  const hashStarted = performance.now();
  const expectedHash = createHash('sha256');
  for await (const chunk of source(block, size)) expectedHash.update(chunk);
  const expected = expectedHash.digest('hex');
  const hashAloneMs = performance.now() - hashStarted;
  const zeros = await (async () => {
    const hash = createHash('sha256');
    const zero = Buffer.alloc(CHUNK_BYTES);
    for (let at = 0; at < size; at += CHUNK_BYTES)
      hash.update(zero.subarray(0, Math.min(CHUNK_BYTES, size - at)));
    return hash.digest('hex');
  })();

  const volume = `${prefix}up.raw`;
  const file = `/tmp/${prefix}cat.bin`;
  const check = (side: string, got: { sha256: string; bytes: number }, want = expected) => {
    if (got.bytes !== size || got.sha256 !== want)
      throw new Error(
        `${side}: ${got.bytes} bytes, SHA-256 ${got.sha256}; expected ${size}, ${want}`,
      );
  };

  const streamVolume = `${volume}-stream`;
  const via = { up: new Set<string>(), down: new Set<string>() };
  const up: Record<UpSide, () => Promise<void>> = {
    uploadVolume: async () => {
      const done = await uploadVolume(virsh, {
        pool,
        name: volume,
        format: 'raw',
        sizeBytes: size,
        source: source(block, size),
        sha256: expected,
      });
      via.up.add(done.via);
      check('uploadVolume', { sha256: done.sha256, bytes: done.sizeBytes });
    },
    'uploadVolume (libvirt stream)': async () => {
      const done = await uploadVolume(virsh, {
        pool,
        name: streamVolume,
        format: 'raw',
        sizeBytes: size,
        source: source(block, size),
        sha256: expected,
        transfer: 'libvirt',
      });
      if (done.via !== 'libvirt') throw new Error(`transfer: 'libvirt' went ${done.via}`);
      check('uploadVolume (libvirt stream)', { sha256: done.sha256, bytes: done.sizeBytes });
    },
    'cat > f (mux)': async () => {
      const hash = createHash('sha256');
      await openSshIn(
        openssh,
        shellCommand(['sh', '-c', 'cat > "$1"', 'sh', file]),
        source(block, size, hash),
      );
      check('cat > f (mux)', { sha256: hash.digest('hex'), bytes: size });
      const stat = await ssh.sftp().stat(file);
      if (stat.size !== size) throw new Error(`cat > f left ${stat.size} bytes`);
    },
    'cat > /dev/null (mux)': async () => {
      const hash = createHash('sha256');
      await openSshIn(
        openssh,
        shellCommand(['sh', '-c', 'cat > /dev/null']),
        source(block, size, hash),
      );
      check('cat > /dev/null (mux)', { sha256: hash.digest('hex'), bytes: size });
    },
    'cat > f (hvkit ssh)': async () => {
      const hash = createHash('sha256');
      const child = await ssh.spawn(['sh', '-c', 'cat > "$1"', 'sh', `${file}.ssh2`], {
        stdin: source(block, size, hash),
      });
      child.stdout.resume();
      const exit = await child.exit;
      if (exit.code !== 0) throw new Error(`cat > f (hvkit ssh) exited ${exit.code}`);
      check('cat > f (hvkit ssh)', { sha256: hash.digest('hex'), bytes: size });
    },
  };
  const down: Record<DownSide, () => Promise<void>> = {
    downloadVolume: async () => {
      const download = await downloadVolume(virsh, { pool, name: volume });
      if (download.sizeBytes !== size)
        throw new Error(`downloadVolume announced ${download.sizeBytes} bytes`);
      via.down.add(download.via);
      check('downloadVolume', await hashStream(download.stream));
    },
    'downloadVolume (libvirt stream)': async () => {
      const download = await downloadVolume(virsh, {
        pool,
        name: streamVolume,
        transfer: 'libvirt',
      });
      if (download.via !== 'libvirt') throw new Error(`transfer: 'libvirt' went ${download.via}`);
      check('downloadVolume (libvirt stream)', await hashStream(download.stream));
    },
    'cat f (mux)': async () =>
      check('cat f (mux)', await openSshOut(openssh, shellCommand(['cat', '--', file]))),
    'head /dev/zero (mux)': async () =>
      check(
        'head /dev/zero (mux)',
        await openSshOut(openssh, shellCommand(['head', '-c', String(size), '/dev/zero'])),
        zeros,
      ),
    'cat f (hvkit ssh)': async () => {
      const child = await ssh.spawn(['cat', '--', `${file}.ssh2`]);
      const got = await hashStream(child.stdout);
      const exit = await child.exit;
      if (exit.code !== 0) throw new Error(`cat f (hvkit ssh) exited ${exit.code}`);
      check('cat f (hvkit ssh)', got);
    },
  };

  const upTimes = new Map<UpSide, number[]>();
  const downTimes = new Map<DownSide, number[]>();
  const upRss = new Map<UpSide, number[]>();
  const downRss = new Map<DownSide, number[]>();
  const loadPerRound: number[] = [];
  const measure = async <S extends string>(
    side: S,
    action: () => Promise<void>,
    times: Map<S, number[]>,
    rss: Map<S, number[]>,
  ) => {
    // Untimed: the host writes back what earlier sides left dirty in its page cache, so no side
    // is throttled by the writeback of the gigabytes written before it (measured: the same side
    // took 3.6 s first in a round and 4.9 s fourth).
    await ssh.exec(['sync']);
    const sampler = rssSampler();
    const started = performance.now();
    await action();
    const ms = performance.now() - started;
    const memory = sampler.stop();
    times.set(side, [...(times.get(side) ?? []), ms]);
    rss.set(side, [
      ...(rss.get(side) ?? []),
      Math.round((memory.peakMiB - memory.baselineMiB) * 10) / 10,
    ]);
    return ms;
  };
  const cleanUp = async () => {
    await deleteVolume(virsh, pool, volume).catch(() => undefined);
    await deleteVolume(virsh, pool, streamVolume).catch(() => undefined);
    await ssh.exec(['rm', '-f', '--', file, `${file}.ssh2`]);
  };

  const upOrder = Object.keys(up) as UpSide[];
  const downOrder = Object.keys(down) as DownSide[];
  try {
    await cleanUp();
    for (let round = 0; round < rounds; round++) {
      loadPerRound.push(load1());
      const line: string[] = [];
      for (let step = 0; step < upOrder.length; step++) {
        const side = upOrder[(round + step) % upOrder.length] as UpSide;
        line.push(`${side} ${(await measure(side, up[side], upTimes, upRss)).toFixed(0)} ms`);
      }
      for (let step = 0; step < downOrder.length; step++) {
        const side = downOrder[(round + step) % downOrder.length] as DownSide;
        line.push(`${side} ${(await measure(side, down[side], downTimes, downRss)).toFixed(0)} ms`);
      }
      await cleanUp();
      options.log(
        `  transfer round ${round + 1}/${rounds}: ${line.join(', ')} (load ${loadPerRound.at(-1)})`,
      );
    }
  } finally {
    await cleanUp();
  }

  const figures = <S extends string>(order: S[], times: Map<S, number[]>, rss: Map<S, number[]>) =>
    Object.fromEntries(
      order.map((side) => {
        const spreadOf = spread(times.get(side) ?? []);
        const growth = rss.get(side) ?? [];
        return [
          side,
          {
            ...spreadOf,
            mibPerS: Math.round((options.sizeMiB / spreadOf.medianMs) * 1000 * 10) / 10,
            rssGrowthMiB: Math.max(...growth),
            rssGrowthPerRoundMiB: growth,
          },
        ];
      }),
    ) as Record<S, TransferSide>;
  const upload = figures(upOrder, upTimes, upRss);
  const download = figures(downOrder, downTimes, downRss);
  return {
    sizeMiB: options.sizeMiB,
    rounds,
    sha256: expected,
    hashAloneMs: Math.round(hashAloneMs),
    upload,
    download,
    uploadRatio: upload['cat > f (mux)'].medianMs / upload.uploadVolume.medianMs,
    downloadRatio: download['cat f (mux)'].medianMs / download.downloadVolume.medianMs,
    uploadVia: [...via.up].join('+'),
    downloadVia: [...via.down].join('+'),
    uploadStreamRatio:
      upload['cat > f (mux)'].medianMs / upload['uploadVolume (libvirt stream)'].medianMs,
    downloadStreamRatio:
      download['cat f (mux)'].medianMs / download['downloadVolume (libvirt stream)'].medianMs,
    pairedUploadRatio: pairedRatio(
      upTimes.get('cat > f (mux)') ?? [],
      upTimes.get('uploadVolume') ?? [],
    ),
    pairedDownloadRatio: pairedRatio(
      downTimes.get('cat f (mux)') ?? [],
      downTimes.get('downloadVolume') ?? [],
    ),
    loadPerRound,
  };
}
