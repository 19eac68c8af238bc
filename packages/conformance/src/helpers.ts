import {
  ConflictError,
  type ConflictReason,
  InvalidSpecError,
  NotFoundError,
  type ResourceKind,
  type Snapshot,
  type SnapshotTree,
  type TaskState,
  UnsupportedCapabilityError,
} from '@hvkit/core';
import { expect } from 'vitest';
import { explain } from './context.js';

/** Bytes in a GiB. */
export const GIB = 2 ** 30;
/** The smallest disk hvkit accepts (1 MiB), in GiB. */
export const ONE_MIB_IN_GIB = 1 / 1024;

/**
 * Runs `work` (sync or async, task or promise) and returns what it threw. Fails the test when it
 * succeeds.
 */
export async function rejectionOf(work: () => unknown): Promise<unknown> {
  let value: unknown;
  try {
    value = await work();
  } catch (error) {
    return error;
  }
  return expect.fail(`expected an error, but it succeeded with ${preview(value)}`);
}

function preview(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.slice(0, 300);
  } catch {
    return String(value);
  }
}

/** Asserts `work` fails with `NotFoundError` naming `resource` (or one of them). */
export async function expectNotFound(
  work: () => unknown,
  resource: ResourceKind | readonly ResourceKind[],
): Promise<NotFoundError> {
  const error = await rejectionOf(work);
  expect(NotFoundError.isInstance(error), `expected NotFoundError, got ${explain(error)}`).toBe(
    true,
  );
  const allowed = typeof resource === 'string' ? [resource] : resource;
  expect(allowed, explain(error)).toContain((error as NotFoundError).resource);
  expect((error as NotFoundError).retryable, 'NOT_FOUND is not retryable').toBe(false);
  return error as NotFoundError;
}

/** Asserts `work` fails with `ConflictError` whose reason is one of `reasons`. */
export async function expectConflict(
  work: () => unknown,
  reasons: ConflictReason | readonly ConflictReason[],
): Promise<ConflictError> {
  const error = await rejectionOf(work);
  expect(ConflictError.isInstance(error), `expected ConflictError, got ${explain(error)}`).toBe(
    true,
  );
  const allowed = typeof reasons === 'string' ? [reasons] : reasons;
  const conflict = error as ConflictError;
  expect(allowed, explain(error)).toContain(conflict.reason);
  expect(conflict.retryable, 'only a locked conflict is retryable').toBe(
    conflict.reason === 'locked',
  );
  return conflict;
}

/** Asserts `work` fails with `InvalidSpecError` with an issue at `path`. */
export async function expectInvalidSpec(work: () => unknown, path: string): Promise<void> {
  const error = await rejectionOf(work);
  expect(
    InvalidSpecError.isInstance(error),
    `expected InvalidSpecError, got ${explain(error)}`,
  ).toBe(true);
  expect(
    (error as InvalidSpecError).issues.map((issue) => issue.path),
    explain(error),
  ).toContain(path);
}

/** Asserts `error` is an `UnsupportedCapabilityError`. */
export function expectUnsupported(error: unknown): asserts error is UnsupportedCapabilityError {
  expect(
    UnsupportedCapabilityError.isInstance(error),
    `expected UnsupportedCapabilityError, got ${explain(error)}`,
  ).toBe(true);
}

/**
 * A random unicast MAC in 00:50:56:00:00:00–00:50:56:3f:ff:ff: the range every backend accepts
 * as a static address (vSphere allows no other for manual MACs).
 */
export function randomMac(): string {
  const byte = (max: number) =>
    Math.floor(Math.random() * (max + 1))
      .toString(16)
      .padStart(2, '0');
  return `00:50:56:${byte(0x3f)}:${byte(0xff)}:${byte(0xff)}`;
}

/** Reads a byte stream to the end. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of stream) {
    parts.push(part);
    length += part.byteLength;
  }
  const output = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    output.set(part, offset);
    offset += part.byteLength;
  }
  return output;
}

/** Yields `bytes` in chunks of `size`. */
export async function* chunked(bytes: Uint8Array, size = 16 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) {
    yield bytes.subarray(offset, Math.min(offset + size, bytes.byteLength));
  }
}

/** Deterministic pseudo-random bytes. */
export function patternBytes(length: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Every snapshot of a tree, depth first. */
export function flatten(tree: SnapshotTree): Snapshot[] {
  const output: Snapshot[] = [];
  const walk = (snapshots: readonly Snapshot[]) => {
    for (const snapshot of snapshots) {
      output.push(snapshot);
      walk(snapshot.children);
    }
  };
  walk(tree.roots);
  return output;
}

/** The snapshot with `id` in `tree`; fails the test when absent. */
export function findSnapshot(tree: SnapshotTree, id: string): Snapshot {
  const found = flatten(tree).find((snapshot) => snapshot.id === id);
  if (!found) return expect.fail(`snapshot ${id} is not in the tree ${preview(tree)}`);
  return found;
}

/** Order of task states: queued < running < final. */
export function stateRank(state: TaskState): number {
  return state === 'queued' ? 0 : state === 'running' ? 1 : 2;
}

/** True when `value` is an ISO 8601 timestamp. */
export function isIsoTime(value: unknown): boolean {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}
