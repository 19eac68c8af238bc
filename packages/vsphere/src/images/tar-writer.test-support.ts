// Test support (not part of the package API): writes small ustar archives, with a pax header for
// names longer than the 100-byte field, to build OVAs in tests.

const BLOCK = 512;
const encoder = new TextEncoder();

function header(name: string, size: number, type: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (text: string, offset: number, length: number) => {
    block.set(encoder.encode(text).subarray(0, length), offset);
  };
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124, 12);
  put(
    `${Math.floor(Date.UTC(2026, 0, 1) / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    12,
  );
  put('        ', 148, 8);
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
  return [data, new Uint8Array(rest)];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = encoder.encode(body).byteLength;
  length += String(length).length;
  if (String(length).length !== String(length - String(length).length).length) length += 1;
  return `${length}${body}`;
}

/** A tar archive of `files`, in order. */
export function tarArchive(files: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const file of files) {
    if (encoder.encode(file.name).byteLength > 100) {
      const pax = encoder.encode(paxRecord('path', file.name));
      parts.push(header('PaxHeader', pax.byteLength, 'x'), ...padded(pax));
    }
    parts.push(header(file.name, file.data.byteLength, '0'), ...padded(file.data));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return new Uint8Array(Buffer.concat(parts));
}
