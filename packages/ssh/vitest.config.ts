import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'ssh',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Each test file starts its own sshd (test/sshd-bed.ts); real network round trips and 64 MiB
    // transfers need more than the default 5 s on a shared 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
