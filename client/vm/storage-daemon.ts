/**
 * A virtual disk (qcow2, VMDK, VHD, VHDX) seen as a plain raw file: qemu-storage-daemon opens it
 * with qemu's own drivers and exports it through FUSE onto a regular file, which every other part
 * of Shoal (partclone, loop devices, the piece workers) then reads and writes like a disk-image
 * file. FUSE rather than qemu-nbd: nbd needs a kernel module that many kernels (this one) lack,
 * and a FUSE export needs nothing but /dev/fuse. No intermediate raw copy is ever written.
 *
 * The daemon must never outlive us with its mount: it runs in its own process group (a Ctrl-C at
 * the terminal reaches Shoal, which still needs the disk to undo a resizable capture's shrink),
 * under `setpriv --pdeathsig` (if Shoal is killed outright the kernel sends the daemon SIGTERM,
 * and it unmounts), and an exit hook stops it and removes its directory on every other way out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { isAlive } from '../../shared/image/store.js';
import { run } from '../disk/exec.js';
import type { QemuFormat } from '../disk/virtual-disk-format.js';

export type { QemuFormat };

export interface ExposedDisk {
  /** The virtual disk's contents as a raw file (the FUSE mount point). */
  rawPath: string;
  /** Flushes (writable), stops the daemon, unmounts and removes the work directory. */
  close(): Promise<void>;
}

export type ExposeMode =
  /** Nothing can be written: qemu opens the file read-only. */
  | { kind: 'read-only' }
  /**
   * Writes go to a temporary qcow2 overlay in the work directory, the file itself is opened
   * read-only: a resizable capture shrinks the filesystems in the overlay, never in the file.
   */
  | { kind: 'overlay' }
  /** Written in place (an export's new file); zeros become unallocated clusters. */
  | { kind: 'writable' };

const WORK_PREFIX = '.shoal-vm-';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 20;

interface Running {
  child: ChildProcess;
  mountpoint: string;
  workDir: string;
  exited: Promise<void>;
}
const running = new Set<Running>();
let exitHookInstalled = false;

/**
 * Opens `file` (of format `format`, found by the caller from its contents) and exposes it as a raw
 * file under a new work directory in `scratchDir`. Errors name `file`; a file another program
 * holds open for writing (a running VM) is refused by qemu's image locking.
 */
export async function exposeDisk(file: string, format: QemuFormat, mode: ExposeMode, scratchDir: string): Promise<ExposedDisk> {
  installExitHook();
  await mkdir(scratchDir, { recursive: true });
  sweepLeftovers(scratchDir);
  const workDir = mkdtempSync(join(resolve(scratchDir), `${WORK_PREFIX}${process.pid}-`));
  const mountpoint = join(workDir, `${basename(file)}.raw`);
  try {
    writeFileSync(mountpoint, ''); // a FUSE export is mounted over a regular file
    const source = {
      driver: 'file',
      'node-name': 'src-file',
      filename: resolve(file),
      'read-only': mode.kind !== 'writable',
      // Zeros written become holes in the file (raw) or unallocated clusters (qcow2).
      ...(mode.kind === 'writable' && { discard: 'unmap' }),
    };
    const top =
      mode.kind === 'overlay'
        ? [
            { driver: format, 'node-name': 'src', file: 'src-file', 'read-only': true },
            { driver: 'qcow2', 'node-name': 'top', file: { driver: 'file', filename: join(workDir, 'overlay.qcow2') }, backing: 'src' },
          ]
        : [
            {
              driver: format,
              'node-name': 'top',
              file: 'src-file',
              'read-only': mode.kind === 'read-only',
              ...(mode.kind === 'writable' && { discard: 'unmap', 'detect-zeroes': 'unmap' }),
            },
          ];
    if (mode.kind === 'overlay') {
      const size = await virtualSize(file, format);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(workDir, 'overlay.qcow2'), String(size)]);
    }
    const exportSpec = { type: 'fuse', id: 'export0', 'node-name': 'top', mountpoint, writable: mode.kind !== 'read-only' };
    const args = [
      '--pdeathsig',
      'TERM',
      '--',
      'qemu-storage-daemon',
      ...[source, ...top].flatMap((b) => ['--blockdev', JSON.stringify(b)]),
      '--export',
      JSON.stringify(exportSpec),
    ];
    const child = spawn('setpriv', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    child.stderr.on('data', (d: Buffer) => (said += d.toString()));
    let gone = false;
    const exited = new Promise<void>((res) => {
      child.once('exit', () => ((gone = true), res()));
      child.once('error', (e) => ((said += String(e)), (gone = true), res()));
    });
    const r: Running = { child, mountpoint, workDir, exited };
    running.add(r);
    const start = Date.now();
    while (!gone && !isMounted(mountpoint) && Date.now() - start < READY_TIMEOUT_MS) await sleep(POLL_MS);
    if (!isMounted(mountpoint)) {
      const trouble = qemuTrouble(said, gone);
      await stop(r);
      throw new ShoalError(`${file}: ${trouble}`);
    }
    return { rawPath: mountpoint, close: () => stop(r) };
  } catch (err) {
    if (![...running].some((r) => r.workDir === workDir)) rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}

/** qemu's complaint, as one line a lab admin can act on. */
function qemuTrouble(said: string, exited: boolean): string {
  const line = said
    .split('\n')
    .map((l) => l.replace(/^qemu-storage-daemon: /, '').trim())
    .filter(Boolean)
    .pop();
  if (/lock|another process/i.test(said)) return `the file is in use by another program (a running virtual machine?): ${line}`;
  if (!exited) return `qemu-storage-daemon did not export it within ${READY_TIMEOUT_MS / 1000} s`;
  if (/spawn setpriv ENOENT/.test(said)) return 'setpriv is not installed (util-linux; run scripts/setup.sh)';
  if (/failed to execute qemu-storage-daemon/.test(said)) return 'qemu-storage-daemon is not installed (qemu-system-common; run scripts/setup.sh)';
  return `qemu cannot open it as a virtual disk: ${line ?? 'no reason given'}`;
}

async function virtualSize(file: string, format: QemuFormat): Promise<number> {
  const info = JSON.parse((await run('qemu-img', ['info', '--output=json', '-f', format, file])).stdout) as { 'virtual-size': number };
  return info['virtual-size'];
}

function isMounted(path: string): boolean {
  // The mount table's own escaping: a space in a path is \040.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === escaped);
}

/**
 * Loop devices over an export (a tool of a capture cut off by Ctrl-C, whose finally never ran):
 * detached (or, while a tool still holds one, set to go when it closes), else the mount is busy
 * and the loop device outlives it, pointing at nothing.
 */
function detachLoopsOver(mountpoint: string): void {
  const res = spawnSync('losetup', ['--associated', mountpoint, '--noheadings', '--output', 'NAME'], { encoding: 'utf8' });
  for (const dev of (res.stdout ?? '').split('\n').map((l) => l.trim())) if (dev) spawnSync('losetup', ['--detach', dev]);
}

async function stop(r: Running): Promise<void> {
  detachLoopsOver(r.mountpoint);
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([r.exited, new Promise((res) => (timer = setTimeout(res, STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  if (r.child.exitCode === null && r.child.signalCode === null) {
    r.child.kill('SIGKILL');
    await r.exited;
  }
  // The daemon unmounts on its way out; if something held the file busy, the mount is left behind.
  if (isMounted(r.mountpoint)) spawnSync('umount', ['--lazy', r.mountpoint]);
  running.delete(r);
  rmSync(r.workDir, { recursive: true, force: true });
}

/**
 * On process.exit (a signal handler's exit included) nothing asynchronous runs any more: stop
 * every daemon and wait for it synchronously, so no mount or work directory stays behind.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const r of running) {
      detachLoopsOver(r.mountpoint);
      const pid = r.child.pid;
      if (pid && r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGTERM');
        spawnSync('tail', [`--pid=${pid}`, '-s', '0.05', '-f', '/dev/null'], { timeout: STOP_TIMEOUT_MS });
      }
      if (isMounted(r.mountpoint)) spawnSync('umount', ['--lazy', r.mountpoint]);
      rmSync(r.workDir, { recursive: true, force: true });
    }
    running.clear();
  });
}

/**
 * Work directories of Shoal processes that were killed. Their daemon unmounted on its own
 * (pdeathsig), unless it was killed outright too: then its mount is stale, and lazily unmounted.
 */
function sweepLeftovers(scratchDir: string): void {
  for (const e of readdirSync(scratchDir)) {
    const pid = Number(new RegExp(`^${WORK_PREFIX}(\\d+)-`).exec(e)?.[1]);
    const dir = join(scratchDir, e);
    if (!pid || isAlive(pid) || !statSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir)) if (isMounted(join(dir, f))) spawnSync('umount', ['--lazy', join(dir, f)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
