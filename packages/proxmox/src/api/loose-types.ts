/**
 * zod schemas for Proxmox's Perl-loose JSON: a value the schema calls integer may arrive as
 * `100` or `"100"` (`/cluster/nextid`, vncproxy `port`, PVE 6 `vmid`), a boolean as `1`, `"1"`
 * or `""` (PVE 6 `template`). Response schemas use these so both forms parse to one type.
 */
import { z } from 'zod';

/** An integer sent as a JSON number or a decimal string (`100`, `"100"`, `"-3"`). */
export const looseInt = z
  .union([z.number().int(), z.string().regex(/^[+-]?\d+$/, 'expected an integer')])
  .transform((value) => Number(value))
  .pipe(z.number().int().safe());

/** A number sent as a JSON number or a decimal string (`0.5`, `"0.5"`, `"1e3"`). */
export const looseNumber = z
  .union([
    z.number(),
    z.string().regex(/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/, 'expected a number'),
  ])
  .transform((value) => Number(value))
  .pipe(z.number().finite());

/**
 * A Proxmox boolean: `0`/`1`, `"0"`/`"1"`, `true`/`false`, or `""` (PVE 6 sends `template: ""`
 * for a VM that is not a template), parsed to `true`/`false`.
 */
export const looseBool = z
  .union([z.boolean(), z.literal(0), z.literal(1), z.enum(['0', '1', ''])])
  .transform((value) => value === true || value === 1 || value === '1');

/** Text that may arrive as a JSON number (`"5900"` or `5900`), kept as a string. */
export const looseString = z.union([z.string(), z.number()]).transform((value) => String(value));
