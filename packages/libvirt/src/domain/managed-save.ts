/**
 * `managedsave` as a task with byte progress and cancellation. virsh's `managedsave` returns when
 * the memory is on disk; while it runs, `domjobinfo --rawstats` reports the save job, and
 * `domjobabort` stops it (killing the virsh client alone would not: the job runs in libvirtd).
 *
 * Recorded on the bed (libvirt 9.0, `domjobinfo --completed --rawstats` after a save of a 512 MiB
 * domain): `Job type: 3`, `operation: 2`, `data_total: 537264128`, `data_processed: 1688322`,
 * `data_remaining: 0`, … — zero pages are counted as done without being written, so progress is
 * `data_total - data_remaining` of `data_total`.
 */
import { sleep } from '../sleep.js';
import type { Virsh } from '../virsh/virsh.js';

/** Bytes of a save job done and in all, from `domjobinfo --rawstats`; undefined without a job. */
export function saveJobProgress(
  text: string,
): { bytesDone: number; bytesTotal: number } | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  const total = Number(fields.get('data_total'));
  const remaining = Number(fields.get('data_remaining'));
  if (!Number.isSafeInteger(total) || total <= 0 || !Number.isSafeInteger(remaining))
    return undefined;
  return { bytesDone: Math.max(0, total - remaining), bytesTotal: total };
}

/** Options of {@link managedSave}. */
export interface ManagedSaveOptions {
  /** Aborting asks libvirtd to abort the save job (`domjobabort`); the domain keeps running. */
  signal: AbortSignal;
  onProgress?: ((bytesDone: number, bytesTotal: number) => void) | undefined;
  /** Poll interval of the job's progress. Default 500 ms. */
  pollMs?: number | undefined;
}

/**
 * Saves a running domain's memory to its managed-save image and stops it. Progress comes from
 * polling the job; an abort runs `domjobabort` and the save fails (the domain goes on running).
 */
export async function managedSave(
  virsh: Virsh,
  uuid: string,
  options: ManagedSaveOptions,
): Promise<void> {
  const done = new AbortController();
  const poll = (async () => {
    const interval = options.pollMs ?? 500;
    // The first look comes soon: a small domain's save may be over in well under a second.
    let wait = Math.min(100, interval);
    while (!done.signal.aborted) {
      await sleep(wait, done.signal).catch(() => undefined);
      wait = interval;
      if (done.signal.aborted) return;
      const text = await virsh
        .run(['domjobinfo', '--rawstats', '--', uuid], { idempotent: true })
        .catch(() => '');
      const progress = saveJobProgress(text);
      if (progress !== undefined && !done.signal.aborted)
        options.onProgress?.(progress.bytesDone, progress.bytesTotal);
    }
  })();
  const abort = () => {
    void virsh.run(['domjobabort', '--', uuid]).catch(() => undefined);
  };
  options.signal.addEventListener('abort', abort, { once: true });
  try {
    // Not given the signal: the save job is stopped through libvirtd, and virsh then fails. A
    // save that completed before the abort reached libvirtd stands (the task succeeds).
    await virsh.run(['managedsave', '--', uuid]);
  } finally {
    options.signal.removeEventListener('abort', abort);
    done.abort();
    await poll;
  }
}
