import { createHash } from 'node:crypto';
import { checkNode, forkWorker, type HandlerRequest, type HandlerTable } from '../context.js';
import { ApiError, die, parameterError } from '../errors.js';
import type { StorageDefinition, Volume } from '../state.js';

const ISO_EXTENSION = /\.(?:iso|img)$/i;
const VZTMPL_EXTENSION = /\.tar\.(?:gz|xz|zst|bz2)$/i;
const IMPORT_EXTENSION = /\.(?:ova|qcow2|raw|vmdk)$/i;
const SAFE_NAME = /^[-\w.+]+$/;

function loadStorage(request: HandlerRequest): StorageDefinition {
  const id = String(request.params.storage);
  const storage = request.context.state.storage(id);
  if (!storage) throw die(`storage '${id}' does not exist`);
  return storage;
}

/** The filename and content checks of PVE::API2::Storage::Status upload / download-url. */
function checkFilename(storage: StorageDefinition, content: string, filename: string): void {
  if (!storage.content.includes(content)) {
    throw parameterError({
      storage: `storage '${storage.id}' is not configured for content-type '${content}'`,
    });
  }
  if (!SAFE_NAME.test(filename)) throw parameterError({ filename: 'invalid filename' });
  if (content === 'iso' && !ISO_EXTENSION.test(filename)) {
    throw parameterError({ filename: 'wrong file extension' });
  }
  if (content === 'vztmpl' && !VZTMPL_EXTENSION.test(filename)) {
    throw parameterError({ filename: 'wrong file extension' });
  }
  if (content === 'import' && !IMPORT_EXTENSION.test(filename)) {
    throw parameterError({ filename: 'invalid filename or wrong extension' });
  }
}

function volumeFormat(content: string, filename: string): string {
  if (content === 'iso') return 'iso';
  if (content === 'vztmpl') return 'tgz';
  return /\.(\w+)$/.exec(filename)?.[1] ?? 'raw';
}

function contentEntry(volume: Volume): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    volid: volume.volid,
    content: volume.content,
    format: volume.format,
    size: volume.sizeBytes,
    ctime: volume.ctime,
  };
  if (volume.vmid !== undefined) entry.vmid = volume.vmid;
  if (volume.content === 'images') entry.used = 0;
  if (volume.base) entry.parent = volume.base.split(':')[1];
  return entry;
}

/** `local:iso/x.iso`, or a volume name relative to the storage of the path (`iso/x.iso`). */
function loadVolume(request: HandlerRequest): Volume {
  const node = checkNode(request);
  const storage = loadStorage(request);
  const name = String(request.params.volume);
  const volid = name.includes(':') ? name : `${storage.id}:${name}`;
  const volume = request.context.state.volume(node, volid);
  if (!volume || volume.storage !== storage.id) throw die(`volume '${volid}' does not exist`);
  return volume;
}

function volumePath(volume: Volume): string {
  const name = volume.volid.slice(volume.storage.length + 1);
  if (volume.storage === 'local') {
    return volume.content === 'images'
      ? `/var/lib/vz/images/${name}`
      : `/var/lib/vz/template/${name}`.replace('/template/import/', '/import/');
  }
  return `/dev/pve/${name}`;
}

export const storageHandlers: HandlerTable = {
  'GET /nodes/{node}/storage/{storage}/content/{volume}': (request) => {
    const volume = loadVolume(request);
    return {
      path: volumePath(volume),
      size: volume.sizeBytes,
      used: volume.data?.length ?? volume.sizeBytes,
      format: volume.format,
    };
  },

  'DELETE /nodes/{node}/storage/{storage}/content/{volume}': async (request) => {
    const volume = loadVolume(request);
    const { context, params } = request;
    const node = String(params.node);
    const upid = forkWorker(request, 'imgdel', '', async (task) => {
      await task.work();
      context.state.removeVolume(node, volume.volid);
      task.log(`Removed volume '${volume.volid}'`);
    });
    if (params.delay === undefined) return upid;
    const task = context.tasks.tasks.get(upid);
    if (!task) return upid;
    const timer = new AbortController();
    await Promise.race([
      task.finished,
      context.clock.sleep(Number(params.delay) * 1000, timer.signal).catch(() => {}),
    ]);
    timer.abort();
    return task.status === 'stopped' && task.exitstatus === 'OK' ? null : upid;
  },

  'GET /nodes/{node}/storage': (request) => {
    const node = checkNode(request);
    const { context, params } = request;
    const wanted = params.content === undefined ? [] : String(params.content).split(',');
    return context.state.storages
      .filter((storage) => params.storage === undefined || storage.id === params.storage)
      .filter((storage) => wanted.every((content) => storage.content.includes(content)))
      .map((storage) => {
        const total = storage.totalBytes ?? 500 * 1024 ** 3;
        const used = context.state
          .volumesOn(node, storage.id)
          .reduce((sum, volume) => sum + volume.sizeBytes, 0);
        return {
          storage: storage.id,
          type: storage.type,
          content: storage.content.join(','),
          active: 1,
          enabled: 1,
          shared: storage.shared ? 1 : 0,
          total,
          used,
          avail: total - used,
          used_fraction: used / total,
        };
      });
  },

  'GET /nodes/{node}/storage/{storage}/content': (request) => {
    const node = checkNode(request);
    const storage = loadStorage(request);
    const { params } = request;
    return request.context.state
      .volumesOn(node, storage.id)
      .filter((volume) => params.content === undefined || volume.content === params.content)
      .filter((volume) => params.vmid === undefined || volume.vmid === Number(params.vmid))
      .sort((a, b) => a.volid.localeCompare(b.volid))
      .map(contentEntry);
  },

  'POST /nodes/{node}/storage/{storage}/upload': (request) => {
    const node = checkNode(request);
    const storage = loadStorage(request);
    const { context, params, upload } = request;
    if (!upload)
      throw new ApiError(400, 'Parameter verification failed.', {
        errors: { filename: 'missing file upload' },
      });
    const content = String(params.content);
    const filename = upload.filename;
    checkFilename(storage, content, filename);
    if (params.checksum !== undefined) {
      const algorithm = String(params['checksum-algorithm']);
      const actual = createHash(algorithm).update(upload.data).digest('hex');
      if (actual !== String(params.checksum).toLowerCase()) {
        throw die(`checksum mismatch: got '${actual}' != expect '${params.checksum}'`);
      }
    }
    return forkWorker(request, 'imgcopy', '', async (task) => {
      task.log(
        `starting file import from: /var/tmp/pveupload-${createHash('md5').update(filename).digest('hex')}`,
      );
      await task.work();
      context.state.addVolume(node, {
        volid: `${storage.id}:${content}/${filename}`,
        content,
        format: volumeFormat(content, filename),
        sizeBytes: upload.data.length,
        ctime: Math.floor(context.clock.now() / 1000),
        data: upload.data,
      });
      task.log(`target file: /var/lib/vz/template/${content}/${filename}`);
      task.log(`file size is: ${upload.data.length}`);
    });
  },

  'POST /nodes/{node}/storage/{storage}/download-url': (request) => {
    const node = checkNode(request);
    const storage = loadStorage(request);
    const { context, params } = request;
    const content = String(params.content);
    const filename = String(params.filename);
    checkFilename(storage, content, filename);
    const url = String(params.url);
    return forkWorker(request, 'download', filename, async (task) => {
      task.log(`downloading ${url} to /var/lib/vz/template/${content}/${filename}`);
      await task.work();
      const digest = createHash('sha256').update(url).digest();
      const sizeBytes =
        content === 'import'
          ? (2 + ((digest[0] as number) % 8)) * 1024 ** 3
          : (100 + (digest[1] as number)) * 1024 ** 2;
      context.state.addVolume(node, {
        volid: `${storage.id}:${content}/${filename}`,
        content,
        format: volumeFormat(content, filename),
        sizeBytes,
        ctime: Math.floor(context.clock.now() / 1000),
      });
      task.log('download of file finished');
    });
  },
};
