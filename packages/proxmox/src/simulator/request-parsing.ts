import type { IncomingMessage } from 'node:http';
import type { RawParameter } from './validate.js';

/** Reads the whole request body. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function addParameter(target: Record<string, RawParameter>, key: string, value: string): void {
  const existing = target[key];
  if (existing === undefined) target[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else target[key] = [String(existing), value];
}

/** `a=1&a=2&b=x` → `{ a: ['1','2'], b: 'x' }` (repeated keys become arrays, as CGI does). */
export function parseForm(text: string): Record<string, RawParameter> {
  const result: Record<string, RawParameter> = {};
  for (const [key, value] of new URLSearchParams(text)) addParameter(result, key, value);
  return result;
}

export interface MultipartBody {
  fields: Record<string, RawParameter>;
  file?: { field: string; filename: string; data: Buffer };
}

/** Minimal multipart/form-data parser: text fields plus one file part. */
export function parseMultipart(body: Buffer, contentType: string): MultipartBody {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const result: MultipartBody = { fields: {} };
  if (!boundary) return result;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let position = body.indexOf(delimiter);
  while (position >= 0) {
    const start = position + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const data = part.subarray(headerEnd + 4);
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
      if (name !== undefined && filename !== undefined) {
        result.file = { field: name, filename, data: Buffer.from(data) };
      } else if (name !== undefined) {
        addParameter(result.fields, name, data.toString('utf8'));
      }
    }
    position = next;
  }
  return result;
}

/** Parses a JSON object body; values keep their JSON types. */
export function parseJsonBody(text: string): Record<string, RawParameter> {
  const value: unknown = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const result: Record<string, RawParameter> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (Array.isArray(item)) result[key] = item.map(String);
    else if (
      item === null ||
      typeof item === 'number' ||
      typeof item === 'boolean' ||
      typeof item === 'string'
    ) {
      result[key] = item;
    } else result[key] = JSON.stringify(item);
  }
  return result;
}

/** Cookie header → name/value map. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const name = part.slice(0, index).trim();
    const raw = part.slice(index + 1).trim();
    try {
      result[name] = decodeURIComponent(raw);
    } catch {
      result[name] = raw;
    }
  }
  return result;
}
