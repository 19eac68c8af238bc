import type { z } from 'zod';
import { InvalidSpecError } from './errors.js';
import {
  type ImageImportSource,
  ImageImportSourceSchema,
  ImportImageOptionsSchema,
} from './model/operations.js';

/** An `importImage` request once validated: what {@link parseImageImport} returns. */
export interface ParsedImageImport {
  source: ImageImportSource;
  options: z.output<typeof ImportImageOptionsSchema>;
}

/**
 * Validates an `importImage` source and its options, for a driver that is called directly
 * (without the provider facade, which validates them itself) and must check them before any I/O.
 * The source is checked first; its issues are named under `source.` (`source.url`), the
 * options' at the top (`name`, `convertTo`). What a backend supports (a source kind, a
 * `convertTo`) is the caller's to check afterwards.
 *
 * @throws InvalidSpecError (subject `image source`, then `image options`) for the first of the
 *   two that does not validate.
 */
export function parseImageImport(source: unknown, options: unknown): ParsedImageImport {
  const parsedSource = ImageImportSourceSchema.safeParse(source);
  if (!parsedSource.success) {
    throw InvalidSpecError.fromZod(parsedSource.error, {
      subject: 'image source',
      pathPrefix: ['source'],
    });
  }
  const parsedOptions = ImportImageOptionsSchema.safeParse(options);
  if (!parsedOptions.success) {
    throw InvalidSpecError.fromZod(parsedOptions.error, { subject: 'image options' });
  }
  return { source: parsedSource.data, options: parsedOptions.data };
}
