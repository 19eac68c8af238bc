/**
 * Property collector reads: every object of a type through one container view and one
 * `RetrievePropertiesEx` (paged by the client), a single object's properties, and watching an
 * object's properties with `CreateFilter` + `WaitForUpdatesEx` (push, no sleep loop).
 */
import type { DataObject, ManagedObjectReference } from '../soap/soap-envelope.js';
import type { ObjectContent } from '../soap/soap-parser.js';
import type { CallOptions, VimClient } from './vim-client.js';

/** Options of a listing. */
export interface ReadOptions extends CallOptions {
  /** Page size asked of the server. Default 1 000 (vcsim ignores it). */
  maxObjects?: number | undefined;
  /** Folder or other container to search below. Default the root folder. */
  container?: ManagedObjectReference | undefined;
}

function moRef(value: unknown, what: string): ManagedObjectReference {
  const record = value as { type?: unknown; value?: unknown } | undefined;
  if (typeof record?.type !== 'string' || typeof record.value !== 'string') {
    throw new TypeError(`vSphere ${what} returned no managed object reference`);
  }
  return { type: record.type, value: record.value };
}

/**
 * Streams `pathSet` of every object of `type` (recursively below the container) with one
 * container view: create, one `RetrievePropertiesEx`, destroy. Objects are yielded as the XML
 * arrives.
 */
export function readAll(
  client: VimClient,
  type: string,
  pathSet: readonly string[],
  options: ReadOptions = {},
): AsyncGenerator<ObjectContent> {
  return readMany(client, [{ type, pathSet }], options);
}

/**
 * Streams the given properties of every object of several types with ONE container view and
 * one `RetrievePropertiesEx` (a property spec per type): the whole inventory in one round trip.
 */
export async function* readMany(
  client: VimClient,
  types: readonly { type: string; pathSet: readonly string[] }[],
  options: ReadOptions = {},
): AsyncGenerator<ObjectContent> {
  const content = await client.serviceContent(options);
  if (!content.viewManager) {
    // ESXi without a view manager is not a supported target; vCenter and vcsim have one.
    throw new TypeError('vSphere endpoint has no ViewManager');
  }
  const view = moRef(
    await client.callOne(
      'CreateContainerView',
      content.viewManager,
      [
        ['container', options.container ?? content.rootFolder, 'ManagedObjectReference'],
        ['type', types.map((entry) => entry.type), 'string'],
        ['recursive', true, 'boolean'],
      ],
      options,
    ),
    'CreateContainerView',
  );
  try {
    const spec: DataObject = {
      $type: 'PropertyFilterSpec',
      propSet: types.map((entry) => ({
        $type: 'PropertySpec',
        type: entry.type,
        pathSet: [...entry.pathSet],
      })),
      objectSet: [
        {
          $type: 'ObjectSpec',
          obj: view,
          skip: true,
          selectSet: [{ $type: 'TraversalSpec', type: 'ContainerView', path: 'view', skip: false }],
        },
      ],
    };
    yield* client.retrieve([spec], { ...options, maxObjects: options.maxObjects ?? 1000 });
  } finally {
    await client.call('DestroyView', view, [], { timeoutMs: 10_000 }).catch(() => undefined);
  }
}

/**
 * Reads `pathSet` of one object.
 *
 * @throws NotFoundError when the object does not exist (vSphere's ManagedObjectNotFound).
 */
export async function readOne(
  client: VimClient,
  obj: ManagedObjectReference,
  pathSet: readonly string[],
  options: CallOptions = {},
): Promise<ObjectContent> {
  const spec: DataObject = {
    $type: 'PropertyFilterSpec',
    propSet: [{ $type: 'PropertySpec', type: obj.type, pathSet: [...pathSet] }],
    objectSet: [{ $type: 'ObjectSpec', obj, skip: false }],
  };
  for await (const object of client.retrieve([spec], options)) return object;
  return { obj, properties: {}, missing: [] };
}

/** One change of a watched object: the properties as they are now. */
export type PropertyState = Record<string, unknown>;

/**
 * Watches `pathSet` of one object: yields the current values first, then again after every
 * change the server reports, until the consumer stops. Uses a property collector of its own
 * (`CreatePropertyCollector`), so concurrent watches never see each other's filters, and
 * destroys it at the end. Long-polls `maxWaitSeconds` at a time; an empty answer (nothing
 * changed) just polls again.
 */
export async function* watchProperties(
  client: VimClient,
  obj: ManagedObjectReference,
  pathSet: readonly string[],
  options: CallOptions & { maxWaitSeconds?: number | undefined } = {},
): AsyncGenerator<PropertyState> {
  const content = await client.serviceContent(options);
  const collector = moRef(
    await client.callOne('CreatePropertyCollector', content.propertyCollector, [], options),
    'CreatePropertyCollector',
  );
  try {
    const spec: DataObject = {
      $type: 'PropertyFilterSpec',
      propSet: [{ $type: 'PropertySpec', type: obj.type, pathSet: [...pathSet] }],
      objectSet: [{ $type: 'ObjectSpec', obj, skip: false }],
    };
    await client.call(
      'CreateFilter',
      collector,
      [
        ['spec', spec, 'PropertyFilterSpec'],
        ['partialUpdates', false, 'boolean'],
      ],
      options,
    );
    const maxWaitSeconds = options.maxWaitSeconds ?? 60;
    const state: PropertyState = {};
    let version = '';
    for (;;) {
      const update = (await client.callOne(
        'WaitForUpdatesEx',
        collector,
        [
          ['version', version, 'string'],
          ['options', { $type: 'WaitOptions', maxWaitSeconds }, 'WaitOptions'],
        ],
        { ...options, timeoutMs: (maxWaitSeconds + 30) * 1000 },
      )) as UpdateSet | undefined;
      if (update === undefined) continue;
      if (typeof update.version === 'string') version = update.version;
      let changed = false;
      for (const filter of update.filterSet ?? []) {
        for (const objectUpdate of filter.objectSet ?? []) {
          if (objectUpdate.kind === 'leave') {
            // The object is gone (deleted): report what we had, marked.
            state.$gone = true;
            changed = true;
          }
          for (const change of objectUpdate.changeSet ?? []) {
            if (typeof change.name !== 'string') continue;
            if (change.op === 'remove' || change.op === 'indirectRemove') delete state[change.name];
            else state[change.name] = change.val;
            changed = true;
          }
        }
      }
      if (changed) yield { ...state };
    }
  } finally {
    // Not awaited: the watcher has what it needs, and the collector dies with the session
    // anyway; waiting would add a round trip to every task an operation observes.
    void client
      .call('DestroyPropertyCollector', collector, [], { timeoutMs: 10_000 })
      .catch(() => undefined);
  }
}

interface UpdateSet {
  version?: unknown;
  filterSet?: {
    objectSet?: {
      kind?: unknown;
      changeSet?: { name?: unknown; op?: unknown; val?: unknown }[];
    }[];
  }[];
}
