// Runs the test beds' scripts (testbeds/<bed>/start.sh, stop.sh) for the vitest globalSetup of
// each provider that tests against a bed (packages/vsphere and packages/libvirt
// test/global-setup.ts). What a setup does with the bed (reuse a given readiness file, skip or
// fail when it cannot start, stop it at teardown) stays in that setup.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A directory of testbeds/ holding a bed's scripts. */
export type Bed = 'libvirt' | 'vcsim';

/** How a bed script ended: its exit code (null when killed after the timeout) and its output. */
export interface BedScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `testbeds/<bed>/<script>` with bash, mirroring its stderr (install, build and start
 * progress) to ours. SIGTERM after `timeoutMs`; rejects only when bash cannot be spawned.
 */
export function runBedScript(
  bed: Bed,
  script: string,
  timeoutMs: number,
): Promise<BedScriptResult> {
  const path = resolve(fileURLToPath(new URL(`./${bed}/`, import.meta.url)), script);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGTERM',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The last `lines` lines of `text`, for an error or warning quoting a script's output. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Runs `testbeds/<bed>/start.sh`, which prints the readiness file's path as its last line.
 * Returns that path and the script's stderr (which says whether it reused a running bed).
 *
 * @throws Error quoting the last 30 lines of stderr when the script fails, times out or prints
 *   no existing absolute path.
 */
export async function startBed(
  bed: Bed,
  timeoutMs: number,
): Promise<{ readyFile: string; stderr: string }> {
  const result = await runBedScript(bed, 'start.sh', timeoutMs);
  const readyFile = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !isAbsolute(readyFile) || !existsSync(readyFile)) {
    throw new Error(
      `testbeds/${bed}/start.sh failed (exit ${result.code ?? 'killed after timeout'}):\n${tail(result.stderr, 30)}`,
    );
  }
  return { readyFile, stderr: result.stderr };
}
