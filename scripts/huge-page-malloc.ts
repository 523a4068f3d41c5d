/**
 * The environment a PC's client runs in: glibc's malloc on transparent huge pages
 * (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, glibc 2.35 and later; older ones ignore it).
 *
 * Why: a PC moves every piece through fresh buffers (socket reads, webtorrent's block and piece
 * assembly, zstd output) and its reseed cache fills as it goes, so its heap keeps growing into new
 * pages: at N = 16 on the bench, about 800 page faults a second per PC, and page faults took 11–20 %
 * of the machine's CPU (this VM's paravirtual page tables make each one dear). With malloc's heap on
 * 2 MiB pages, a fault maps 512 pages at once: faults fell from 158 k to 30 k in 12 s, the PCs' system
 * time from 10.6 s to 3.9 s. Kernels with THP set to `never` ignore the advice. The boot image's
 * init (scripts/boot/init.sh) sets the same variable for the PXE-booted client; this is for the
 * places that start PC processes from Node (the lab simulator, the benches).
 */
export const HUGE_PAGE_MALLOC_TUNABLE = 'glibc.malloc.hugetlb=1';

/** `env` with the tunable added to any GLIBC_TUNABLES it already has. */
export function withHugePageMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const tunables = (env.GLIBC_TUNABLES ?? '').split(':').filter(Boolean);
  if (tunables.some((t) => t.startsWith('glibc.malloc.hugetlb='))) return env;
  return { ...env, GLIBC_TUNABLES: [...tunables, HUGE_PAGE_MALLOC_TUNABLE].join(':') };
}
