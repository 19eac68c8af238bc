import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'vsphere',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Finds or starts the shared vcsim bed and provides it as inject('vcsim').
    globalSetup: ['test/global-setup.ts'],
  },
});
