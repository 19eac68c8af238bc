// Disk data in and out of libvirt: importDisk (a stream becomes an image) and exportDisk (a
// domain disk as a stream).
export {
  type DiskSource,
  diskSourceOf,
  type ExportDiskOptions,
  exportDisk,
} from './disk-export.js';
export { type ImportDiskOptions, importDisk } from './disk-import.js';
