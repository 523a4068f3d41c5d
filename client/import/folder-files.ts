/**
 * How an import reads the files of a FOG or Clonezilla folder. A storage node checks a folder
 * before it runs `shoal import` on it (seeder/import-folder.ts: nothing in it leads out of the
 * node's import root), but a file can be swapped for a symbolic link between that check and the
 * read. With `within` (`shoal import --within DIR`, which the node passes), every file is opened
 * first and the file actually opened, as the kernel names it, must lie under DIR: a link swapped
 * in later is refused, not followed.
 */
import { realpathSync, type ReadStream } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { pathWithin } from '../../shared/path-within.js';
import { ShoalError } from '../../shared/errors.js';

export interface FolderFiles {
  /** Opens a file to read, refused when it lies outside `within`. */
  open(path: string): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  /** The file's bytes, or undefined when it is not there; a file outside `within` is an error still. */
  readOptional(path: string): Promise<Buffer | undefined>;
  /** The file as a stream of chunks of `chunkBytes`. */
  stream(path: string, chunkBytes: number): Promise<ReadStream>;
}

export function folderFiles(within?: string): FolderFiles {
  let root: string | undefined;
  if (within) {
    try {
      root = realpathSync(within);
    } catch {
      throw new ShoalError(`--within ${within} does not exist`);
    }
  }
  const openChecked = async (path: string): Promise<FileHandle> => {
    const fh = await open(path, 'r');
    if (!root) return fh;
    // The kernel's name of what was opened, whatever links led there (Linux's /proc).
    const real = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
    if (real !== undefined && pathWithin(real, root)) return fh;
    await fh.close();
    throw new ShoalError(`${path} leads out of ${within} (to ${real ?? 'a file this machine cannot name'}): not read`);
  };
  return {
    open: openChecked,
    async readFile(path) {
      const fh = await openChecked(path);
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    },
    async readOptional(path) {
      try {
        return await this.readFile(path);
      } catch (err) {
        if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
        throw err;
      }
    },
    async stream(path, chunkBytes) {
      return (await openChecked(path)).createReadStream({ highWaterMark: chunkBytes });
    },
  };
}
