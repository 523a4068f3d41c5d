/**
 * npm run bench:boot (root) — how long network boot takes, from power-on to `shoal join` starting
 * in the VM, for BIOS (iPXE) and UEFI with Secure Boot enforced (shim, signed GRUB, kernel and
 * initramfs over TFTP), beside the reference measured in the same run: the same kernel and
 * initramfs handed to qemu directly (no firmware, no PXE). VMs run one at a time under software
 * emulation (no KVM here), on the lab simulator's bridge with `shoal start --pxe`; each then
 * deploys a small image and powers off, and the whole run is reported too. Ends with the JSON line
 * {"bench":"boot","bios_s":…,"uefi_s":…,"initramfs_mib":…}.
 */
import { mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeDataDisk, MiB } from './bench-disk.js';
import { createLabNet } from './lab/netns.js';
import { BOOT_DIR, ensureBootImage, portalOf, startPxeServer, startVm, stopServer, type Vm } from './lab/netboot-vm.js';
import { parseScriptArgs } from './usage.js';
import { PortalClient } from '../shared/http/portal-client.js';
import { HostSchema, TaskSchema } from '../shared/http/portal-contract.js';
import { waitForHeldImage } from './lab/data-image.js';

const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const VM_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 100;
const JOIN_STARTS = /running the Shoal client/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  name: string;
  joinSeconds: number;
  doneSeconds: number;
}

// No options: anything on the command line is refused before a VM starts.
parseScriptArgs(import.meta.url, {});
ensureBootImage();
const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-boot-'));
const lab = createLabNet({ clients: 0, clientMbit: 1000, serverMbit: 1000 });
const tap = lab.addTap(0);
let server: ReturnType<typeof startPxeServer> | undefined;
let vm: Vm | undefined;
try {
  const disk = makeDataDisk(dir, 16);
  disk.release();
  const store = join(dir, 'store');
  execFileSync(process.execPath, [CLI, 'capture', '--disk', disk.path, '--store', store, '--image', 'boot', '--type', 'multipart'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  server = startPxeServer(lab, { data: join(dir, 'data'), store, dhcp: 'full' });
  server.stderr!.resume();
  server.stdout!.resume();
  const portal = portalOf(lab);
  const admin = new PortalClient({ url: portal, token: await waitForHeldImage(portal, join(dir, 'data')) });

  const runs: Run[] = [];
  const boot = async (name: string, firmware: 'bios' | 'uefi-secure-boot', direct: boolean, index: number): Promise<Run> => {
    const mac = `52:54:00:b0:07:${index.toString(16).padStart(2, '0')}`;
    await admin.post(HostSchema, '/api/v1/hosts', { mac });
    await admin.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'boot', hosts: [mac], finish: 'poweroff', lingerSeconds: 0 });
    // The direct boot gets the command line iPXE would have been given.
    const directCmdline = direct ? /kernel \S+ initrd=\S+ (.*)\n/.exec(await (await fetch(`${portal}/boot/ipxe?mac=${mac}`)).text())?.[1] : undefined;
    const vmDisk = join(dir, `vm-${index}.img`);
    writeFileSync(vmDisk, '');
    truncateSync(vmDisk, disk.bytes);
    const started = Date.now();
    vm = startVm({ firmware, tap, mac, disk: vmDisk, serialLog: join(dir, `vm-${index}.log`), dir, ...(directCmdline && { directCmdline }) });
    let joinAt = 0;
    let exitCode: number | null | undefined;
    void vm.exited.then((c) => (exitCode = c));
    // Bounded by VM_TIMEOUT_MS.
    while (exitCode === undefined && Date.now() - started < VM_TIMEOUT_MS) {
      await sleep(POLL_MS);
      if (!joinAt && JOIN_STARTS.test(vm.serial())) joinAt = Date.now();
    }
    if (exitCode !== 0 || !joinAt)
      throw new Error(
        `${name}: the VM ${exitCode === undefined ? 'did not finish' : `exited with ${exitCode}`}: ${vm.qemuSaid().trim()}; its console:\n${vm.serial().slice(-3000)}`,
      );
    const r = { name, joinSeconds: (joinAt - started) / 1000, doneSeconds: (Date.now() - started) / 1000 };
    console.log(`${name}: shoal join started ${r.joinSeconds.toFixed(1)} s after power-on; deployed and powered off at ${r.doneSeconds.toFixed(1)} s`);
    return r;
  };
  runs.push(await boot('direct kernel (reference)', 'bios', true, 1));
  runs.push(await boot('BIOS, iPXE', 'bios', false, 2));
  runs.push(await boot('UEFI, Secure Boot', 'uefi-secure-boot', false, 3));
  const initramfs = statSync(join(BOOT_DIR, 'initrd.img')).size / MiB;
  const [ref, bios, uefi] = runs as [Run, Run, Run];
  console.log(
    `\nboot benchmark: software emulation (qemu TCG, 1 vCPU), ${execFileSync('nproc').toString().trim()} cores; initramfs ${initramfs.toFixed(1)} MiB (target <= 120)`,
  );
  console.log(`${'boot'.padEnd(28)} ${'to join s'.padStart(10)} ${'÷direct'.padStart(8)} ${'+ over direct s'.padStart(16)} ${'deployed s'.padStart(11)}`);
  for (const r of runs)
    console.log(
      `${r.name.padEnd(28)} ${r.joinSeconds.toFixed(1).padStart(10)} ${(r.joinSeconds / ref.joinSeconds).toFixed(2).padStart(8)} ${(r.joinSeconds - ref.joinSeconds).toFixed(1).padStart(16)} ${r.doneSeconds.toFixed(1).padStart(11)}`,
    );
  console.log('(target: the boot adds no more than 60 s to a deploy: "to join" <= 60)');
  console.log(
    JSON.stringify({
      bench: 'boot',
      bios_s: +bios.joinSeconds.toFixed(1),
      uefi_s: +uefi.joinSeconds.toFixed(1),
      initramfs_mib: +initramfs.toFixed(1),
      direct_s: +ref.joinSeconds.toFixed(1),
    }),
  );
} finally {
  if (vm && vm.child.exitCode === null) vm.child.kill('SIGKILL');
  if (server) await stopServer(server);
  lab.teardown();
  rmSync(dir, { recursive: true, force: true });
}
