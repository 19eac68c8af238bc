import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'libvirt',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Finds or starts the shared libvirt bed and provides it as inject('libvirt').
    globalSetup: ['test/global-setup.ts'],
    // Real virsh over real SSH under TCG on 2 shared cores: the default 5 s is too tight.
    testTimeout: 60_000,
    // One file at a time: every file shares the one bed (libvirtd, the pool, 2 CPU cores running
    // TCG guests), and the fault tests kill SSH sessions and restart libvirtd.
    fileParallelism: false,
    hookTimeout: 120_000,
  },
});
