/**
 * The state file: written whole and atomically (a temporary file renamed over the old one), so
 * a reader never sees half a state, and recognised as changed by its inode, size and mtime.
 */
import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

/** What identifies one version of the file on disk. */
export interface FileStamp {
  inode: bigint;
  size: bigint;
  mtimeNs: bigint;
}

let temporaryCounter = 0;

/** The file's current stamp, or undefined when it does not exist. */
export function stampOf(path: string): FileStamp | undefined {
  try {
    const stat = statSync(path, { bigint: true });
    return { inode: stat.ino, size: stat.size, mtimeNs: stat.mtimeNs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** True when both stamps name the same version of the file. */
export function sameStamp(left: FileStamp | undefined, right: FileStamp | undefined): boolean {
  if (left === undefined || right === undefined) return left === right;
  return left.inode === right.inode && left.size === right.size && left.mtimeNs === right.mtimeNs;
}

/** Reads the file as UTF-8; undefined when it does not exist. */
export function readStateFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Writes `text` to `path` through a temporary file in the same directory and a rename, and
 * returns the new stamp. The rename is atomic on POSIX file systems: another process reads
 * either the old state or the new one.
 */
export function writeStateFile(path: string, text: string): FileStamp {
  temporaryCounter += 1;
  const temporary = `${path}.${process.pid}.${temporaryCounter}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing to clean up.
    }
    throw error;
  }
  return stampOf(path) as FileStamp;
}
