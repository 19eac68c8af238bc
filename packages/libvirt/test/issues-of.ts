// What the libvirt builders' InvalidSpecErrors say, for the unit tests that check them.
import { InvalidSpecError } from '@hvkit/core';

/**
 * Runs `run`, which must throw an InvalidSpecError, and returns its issues' paths and messages.
 *
 * @throws What `run` threw when it is not an InvalidSpecError; an Error when it threw nothing.
 */
export function issuesOf(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    if (InvalidSpecError.isInstance(error))
      return error.issues.map(({ path, message }) => ({ path, message }));
    throw error;
  }
  throw new Error('expected an InvalidSpecError');
}
