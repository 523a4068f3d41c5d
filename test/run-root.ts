/**
 * Runs test/root in two phases, so a 2-core CI machine keeps both cores busy. The qemu tests
 * (software emulation: one core each, for minutes) run beside a lane of long tests that use
 * neither network namespaces nor wall-clock bounds a busy machine could miss; every other file
 * runs after both, alone, as before. The lane beside streams nothing while it runs: its output is
 * printed whole when the first phase ends, so the two never interleave mid-line.
 * A file not named here lands in the second phase: a new test is safe by default.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT_TESTS = fileURLToPath(new URL('./root', import.meta.url));
// uvu's package exports no bin path to resolve; dist/test/ sits two levels under the checkout.
const UVU = fileURLToPath(new URL('../../node_modules/uvu/bin.js', import.meta.url));

/** qemu under software emulation, and the test OS (its cache is built by the first of them that needs it). */
const VM_LANE = ['test-os', 'os-boot', 'netboot', 'vm-disks'];
/**
 * Beside the VMs: no namespaces (netboot asserts none but its own are left), no test OS (its cache
 * is built in the VM lane), and no timing they could miss when slowed down (their bounds are
 * lower ones: a download limit held).
 */
const BESIDE_LANE = ['foreign-fixtures', 'import', 'roundtrip', 'node-jobs', 'cli-options', 'bad-input'];

const files = readdirSync(ROOT_TESTS).filter((f) => f.endsWith('.test.js'));
for (const name of [...VM_LANE, ...BESIDE_LANE])
  if (!existsSync(join(ROOT_TESTS, `${name}.test.js`))) throw new Error(`test/run-root.ts names ${name}.test.ts, which is gone: update its lanes`);
const laned = new Set([...VM_LANE, ...BESIDE_LANE].map((n) => `${n}.test.js`));
const rest = files.filter((f) => !laned.has(f)).map((f) => f.replace(/\.test\.js$/, ''));

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** uvu on exactly these files of test/root. */
function uvu(names: string[], streamed: boolean): Promise<{ code: number; said: string }> {
  const pattern = `^(${names.map(escape).join('|')})\\.test\\.js$`;
  const child = spawn(process.execPath, [UVU, ROOT_TESTS, pattern], { stdio: ['ignore', streamed ? 'inherit' : 'pipe', streamed ? 'inherit' : 'pipe'] });
  let said = '';
  child.stdout?.on('data', (d: Buffer) => (said += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (said += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), said })));
}

const started = Date.now();
const [vms, beside] = await Promise.all([uvu(VM_LANE, true), uvu(BESIDE_LANE, false)]);
process.stdout.write(`\n--- beside the VMs: ${BESIDE_LANE.join(', ')} ---\n${beside.said}`);
console.log(`[time] phase 1 (VMs and the lane beside them): ${((Date.now() - started) / 1000).toFixed(0)} s`);
const others = await uvu(rest, true);
const failed = [vms, beside, others].filter((l) => l.code !== 0).length;
console.log(`[time] root tests: ${((Date.now() - started) / 1000).toFixed(0)} s${failed ? `; ${failed} of 3 lanes failed` : ''}`);
process.exit(failed ? 1 : 0);
