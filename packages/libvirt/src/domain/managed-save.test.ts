import { describe, expect, it } from 'vitest';
import { saveJobProgress } from './managed-save.js';

describe('saveJobProgress', () => {
  it('reads done and total bytes of a save job (recorded on libvirt 9.0)', () => {
    const text = [
      'Job type: 2',
      '',
      'operation: 2',
      'time_elapsed: 49',
      'data_total: 537264128',
      'data_processed: 1688322',
      'data_remaining: 268632064',
      'memory_total: 537264128',
    ].join('\n');
    expect(saveJobProgress(text)).toEqual({ bytesDone: 268632064, bytesTotal: 537264128 });
  });

  it('is undefined without a job or its figures', () => {
    expect(saveJobProgress('Job type: 0\n')).toBeUndefined();
    expect(saveJobProgress('')).toBeUndefined();
    expect(saveJobProgress('data_total: 0\ndata_remaining: 0\n')).toBeUndefined();
  });
});
