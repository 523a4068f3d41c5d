#!/usr/bin/env node
import { Command, Option } from 'commander';
import { collect, nonNegative, positiveInt, zstdLevel } from './cli/values.js';
import { ShoalError } from '../shared/errors.js';
import { IMAGE_TYPES, type ImageType } from '../shared/image/manifest.js';
import { listImages, openImage } from '../shared/image/store.js';
import { capture } from './capture/capture-disk.js';
import { deploy } from './deploy/target-disks.js';
import { verifyImage } from './deploy/verify.js';
import { describeImage } from './cli/image-info.js';
import { createProgress, formatBytes } from './console/progress.js';
import { addSwarmCommands, checkDeployTransport, deployThroughPortal, startupWindowHelp } from './cli/portal-commands.js';
import { addImportCommands } from './cli/import-commands.js';
import { addVmCommands } from './cli/vm-commands.js';

const program = new Command('shoal')
  .description('Disk imaging for labs: capture a reference disk, deploy it to many PCs')
  .version('0.1.0')
  // The program's own options only before a command: `deploy --version 2` is the image's version,
  // not commander's global --version (which printed 0.1.0 and deployed nothing).
  .enablePositionalOptions()
  // A bad option is one line like every other error: "shoal: error: …", with where to look.
  .configureOutput({ outputError: (text, write) => write(`shoal: ${text.trim()} (run with --help for usage)\n`) });

program
  .command('capture')
  .description('capture disks into a new image version in a store')
  .requiredOption('--disk <path>', 'block device or disk-image file (repeat for alldisks)', collect)
  .requiredOption('--store <dir>', 'image store directory')
  .requiredOption('--image <name>', 'image name (letters, digits, ".", "_", "-")')
  .addOption(new Option('--type <type>', 'image type').choices(IMAGE_TYPES).makeOptionMandatory())
  .option('--piece-length <bytes>', 'piece length in bytes, a power of two from 64 KiB to 64 MiB (default 1 MiB)', positiveInt)
  .option('--zstd-level <n>', 'zstd compression level, 1 to 22 (default 6)', zstdLevel)
  .action(async (o: { disk: string[]; store: string; image: string; type: ImageType; pieceLength?: number; zstdLevel?: number }) => {
    const { dir, manifest } = await capture({
      disks: o.disk,
      store: o.store,
      image: o.image,
      type: o.type,
      pieceLength: o.pieceLength,
      zstdLevel: o.zstdLevel,
      progress: createProgress,
    });
    console.log(
      `captured ${manifest.name} v${manifest.version}: ${formatBytes(manifest.rawBytes)} used, ${formatBytes(manifest.storedBytes)} stored in ${dir}`,
    );
  });

program
  .command('deploy')
  .description("deploy an image to disks (in the order they were captured), from a local store or through the lab's swarm")
  .option('--store <dir>', 'deploy from this local image store')
  .option('--portal <url>', 'deploy through the lab: the portal hands out the image, its swarm and a key')
  .addOption(
    new Option(
      '--transport <how>',
      'with --portal: how the pieces come: swarm (default), unicast (HTTP from a storage node), auto (the swarm; unicast when it reaches nobody)',
    ).choices(['swarm', 'unicast', 'auto', 'multicast']),
  )
  .option('--startup-window <seconds>', `with --portal: ${startupWindowHelp}`, nonNegative)
  .option('--download-limit <bytes-per-sec>', "with --portal: this PC's download limit (default: none)", nonNegative)
  .requiredOption('--image <name>', 'image name')
  .requiredOption('--disk <path>', 'target block device or disk-image file (repeat for alldisks)', collect)
  .option('--version <n>', 'image version (default: the newest)', positiveInt)
  .option('--token <token>', 'with --portal: admin token (default: $SHOAL_TOKEN)')
  .option('--linger <seconds>', 'with --portal: keep seeding this long after finishing', nonNegative, 0)
  .action(
    async (o: {
      store?: string;
      portal?: string;
      transport?: string;
      image: string;
      disk: string[];
      version?: number;
      token?: string;
      linger: number;
      startupWindow?: number;
      downloadLimit?: number;
    }) => {
      const how = checkDeployTransport(o);
      if (how !== 'store') return deployThroughPortal({ ...o, portal: o.portal!, transport: how });
      const m = await deploy({ store: o.store!, image: o.image, disks: o.disk, version: o.version, progress: createProgress });
      console.log(`deployed ${m.name} v${m.version} to ${o.disk.join(', ')}`);
    },
  );

program
  .command('verify')
  .description('re-read and re-hash every piece of a stored image')
  .requiredOption('--store <dir>', 'image store directory')
  .requiredOption('--image <name>', 'image name')
  .option('--version <n>', 'image version (default: the newest)', positiveInt)
  .action(async (o: { store: string; image: string; version?: number }) => {
    const m = await verifyImage(o.store, o.image, { version: o.version, progress: createProgress });
    const pieces = m.disks.reduce((n, d) => n + d.areas.reduce((a, x) => a + x.pieces.length, 0), 0);
    console.log(`ok: ${m.name} v${m.version}, ${pieces} pieces, ${formatBytes(m.storedBytes)} verified`);
  });

const image = program.command('image').description('inspect images in a store');
image
  .command('info')
  .description('show an image manifest in readable form')
  .requiredOption('--store <dir>', 'image store directory')
  .requiredOption('--image <name>', 'image name')
  .option('--version <n>', 'image version (default: the newest)', positiveInt)
  .option('--json', 'print the manifest itself')
  .action(async (o: { store: string; image: string; version?: number; json?: boolean }) => {
    const { manifest } = await openImage(o.store, o.image, o.version);
    console.log(o.json ? JSON.stringify(manifest, null, 2) : describeImage(manifest));
  });

image
  .command('list')
  .description('list the images in a store and their newest version')
  .requiredOption('--store <dir>', 'image store directory')
  .action(async (o: { store: string }) => {
    const images = await listImages(o.store);
    if (!images.length) return console.log(`no images in ${o.store}`);
    console.log(`${'name'.padEnd(24)} ${'versions'.padEnd(10)} ${'type'.padEnd(10)} ${'data'.padStart(10)} ${'stored'.padStart(10)}  captured`);
    for (const { name, versions } of images) {
      const { manifest: m } = await openImage(o.store, name);
      console.log(
        `${name.padEnd(24)} ${versions
          .map((v) => `v${v}`)
          .join(',')
          .padEnd(10)} ${m.type.padEnd(10)} ${formatBytes(m.rawBytes).padStart(10)} ${formatBytes(m.storedBytes).padStart(10)}  ${m.createdAt}`,
      );
    }
  });

addSwarmCommands(program);
addImportCommands(program);
addVmCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ShoalError) {
    process.stderr.write(`shoal: error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`shoal: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(70);
});
