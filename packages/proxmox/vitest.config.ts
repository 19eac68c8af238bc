import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'proxmox',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
