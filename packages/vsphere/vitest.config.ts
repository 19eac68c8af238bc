import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'vsphere',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
