// The libvirt image catalog and URL imports, for the driver (see each module's comment).
export { checkImageHeader, detectDiskFormat, HEADER_BYTES } from './disk-format.js';
export {
  type CatalogOptions,
  deleteImage,
  findImage,
  type ImageUsers,
  imageOf,
  imageUsers,
  listImages,
  listStoredImages,
  type StoredImage,
} from './image-catalog.js';
export {
  type ImportImageCallOptions,
  type ImportOutcome,
  importCacheKey,
  importImage,
  importImageWithOutcome,
  type StagingTransport,
} from './image-import.js';
export {
  type ImageLocation,
  type ImageRecord,
  imageIdOf,
  parseImageId,
  RECORD_SUFFIX,
  volumeNameFor,
} from './image-record.js';
