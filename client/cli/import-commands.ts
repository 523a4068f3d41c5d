/** `shoal import fog|clonezilla`: another imaging system's image folder into a Shoal image. */
import { Command, Option } from 'commander';
import { IMAGE_TYPES, type ImageType } from '../../shared/image/manifest.js';
import { IMPORT_ZSTD_LEVEL, importImage, type ImportFormat } from '../import/import-image.js';
import { createProgress, formatBytes, jsonProgress } from '../console/progress.js';
import { positiveInt, zstdLevel } from './values.js';

interface ImportOptions {
  store: string;
  image: string;
  type?: ImageType;
  version?: number;
  pieceLength?: number;
  zstdLevel?: number;
  progressJson?: boolean;
  within?: string;
}

const FORMATS: Record<ImportFormat, string> = {
  fog: 'a FOG image folder (d1.partitions, d1.mbr, d1p1.img …); its type is told from the files unless --type says',
  clonezilla: 'a Clonezilla savedisk image folder (disk, parts, sda-pt.sf, sda1.ext4-ptcl-img.zst.aa …)',
};

export function addImportCommands(program: Command): void {
  const cmd = program.command('import').description("import another imaging system's image into a store, without a disk in between");
  for (const format of Object.keys(FORMATS) as ImportFormat[]) {
    cmd
      .command(`${format} <folder>`)
      .description(`import ${FORMATS[format]}`)
      .requiredOption('--store <dir>', 'image store directory')
      .requiredOption('--image <name>', 'image name (letters, digits, ".", "_", "-")')
      .addOption(new Option('--type <type>', 'image type (default: told from the files)').choices(IMAGE_TYPES))
      .option('--version <n>', 'publish exactly this version (refused if it exists; default: the next)', positiveInt)
      .option('--piece-length <bytes>', 'piece length in bytes, a power of two from 64 KiB to 64 MiB (default 1 MiB)', positiveInt)
      .option('--zstd-level <n>', `zstd compression level, 1 to 22 (default ${IMPORT_ZSTD_LEVEL})`, zstdLevel)
      .option('--within <dir>', 'read only files that lie under DIR, whatever links lead to them (a storage node passes its --import-root)')
      .option('--progress-json', 'progress as JSON lines on stdout ({"progress":{…}}, then {"imported":{…}}), for programs')
      .action(async (folder: string, o: ImportOptions) => {
        const { dir, manifest: m } = await importImage({
          format,
          folder,
          store: o.store,
          image: o.image,
          type: o.type,
          version: o.version,
          pieceLength: o.pieceLength,
          zstdLevel: o.zstdLevel,
          progress: o.progressJson ? jsonProgress : createProgress,
          within: o.within,
        });
        if (o.progressJson) console.log(JSON.stringify({ imported: { name: m.name, version: m.version, dir, infoHash: m.infoHash, type: m.type } }));
        else console.log(`imported ${m.name} v${m.version} (${m.type}): ${formatBytes(m.rawBytes)} used, ${formatBytes(m.storedBytes)} stored in ${dir}`);
      });
  }
}
