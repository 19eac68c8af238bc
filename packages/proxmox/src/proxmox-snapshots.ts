/**
 * `GET /nodes/{node}/qemu/{vmid}/snapshot` → core `SnapshotTree`. Pure: no I/O.
 *
 * Proxmox answers a flat, unordered list (Perl hash order): each snapshot with `name`,
 * `snaptime` (seconds, 0 when missing), `vmstate` (0/1), `description` and `parent`, plus a
 * pseudo entry `name: "current"` ("You are here!") whose `parent` is the snapshot the VM runs from.
 */
import type { Snapshot, SnapshotTree } from '@hvkit/core';

/** One entry of the snapshot list, with Perl-loose types. */
export interface ProxmoxSnapshotEntry {
  name: string;
  snaptime?: number | string | undefined;
  vmstate?: number | string | boolean | undefined;
  description?: string | undefined;
  parent?: string | undefined;
  running?: number | string | undefined;
  digest?: string | undefined;
  /** `prepare` or `delete` while a snapshot task works on it. */
  snapstate?: string | undefined;
}

/** Name of the pseudo entry for the VM's present state. */
export const CURRENT_ENTRY = 'current';

function flag(value: number | string | boolean | undefined): boolean {
  return value === true || String(value) === '1';
}

function isoOf(snaptime: number | string | undefined): string {
  const seconds = Number(snaptime ?? 0);
  return new Date((Number.isFinite(seconds) ? seconds : 0) * 1000).toISOString();
}

/**
 * Builds the tree: ids are snapshot names (unique per VM in Proxmox), `memory` from `vmstate`,
 * `powerState` `on` for a snapshot with RAM (rollback resumes it) and `off` otherwise (rollback
 * leaves the VM stopped), `quiesced` always false (Proxmox records no such fact), `createdAt`
 * from `snaptime`. `currentId` is the `parent` of the `current` entry, or null. Children are
 * ordered by creation time, then name. A snapshot whose parent is not listed becomes a root; in a
 * list that loops, the link closing the loop is dropped.
 */
export function snapshotListToTree(entries: readonly ProxmoxSnapshotEntry[]): SnapshotTree {
  const current = entries.find((entry) => entry.name === CURRENT_ENTRY);
  const real = entries.filter((entry) => entry.name !== CURRENT_ENTRY);
  const nodes = new Map<string, Snapshot>();
  for (const entry of real) {
    const memory = flag(entry.vmstate);
    const snapshot: Snapshot = {
      id: entry.name,
      name: entry.name,
      createdAt: isoOf(entry.snaptime),
      memory,
      quiesced: false,
      powerState: memory ? 'on' : 'off',
      children: [],
    };
    if (entry.description !== undefined && entry.description !== '')
      snapshot.description = entry.description;
    nodes.set(entry.name, snapshot);
  }
  const roots: Snapshot[] = [];
  for (const entry of real) {
    const node = nodes.get(entry.name) as Snapshot;
    const parent = entry.parent === undefined ? undefined : nodes.get(entry.parent);
    // A corrupt list could loop (x → y → x): the link that would close the loop is dropped.
    if (parent && !closesLoop(nodes, node.id, parent)) {
      node.parentId = parent.id;
      parent.children.push(node);
    } else {
      roots.push(node);
    }
  }
  const order = (a: Snapshot, b: Snapshot) =>
    a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name);
  const sortDeep = (list: Snapshot[]) => {
    list.sort(order);
    for (const item of list) sortDeep(item.children);
  };
  sortDeep(roots);
  const currentId =
    current?.parent !== undefined && nodes.has(current.parent) ? current.parent : null;
  return { currentId, roots };
}

/** True when linking `id` under `parent` would make `id` its own ancestor. */
function closesLoop(nodes: Map<string, Snapshot>, id: string, parent: Snapshot): boolean {
  let cursor: Snapshot | undefined = parent;
  while (cursor !== undefined) {
    if (cursor.id === id) return true;
    cursor = cursor.parentId === undefined ? undefined : nodes.get(cursor.parentId);
  }
  return false;
}

/** Finds a snapshot anywhere in a tree. */
export function findSnapshot(tree: SnapshotTree, id: string): Snapshot | undefined {
  const stack = [...tree.roots];
  while (stack.length > 0) {
    const item = stack.pop() as Snapshot;
    if (item.id === id) return item;
    stack.push(...item.children);
  }
  return undefined;
}

/** True when the VM ran when the list was read (`running` of the `current` entry). */
export function isRunningPerSnapshotList(entries: readonly ProxmoxSnapshotEntry[]): boolean {
  return flag(entries.find((entry) => entry.name === CURRENT_ENTRY)?.running);
}
