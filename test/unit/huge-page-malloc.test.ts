import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { HUGE_PAGE_MALLOC_TUNABLE, withHugePageMalloc } from '../../scripts/huge-page-malloc.js';

test('adds the tunable, keeps the other tunables and variables, leaves a choice already made', () => {
  assert.is(withHugePageMalloc({ PATH: '/bin' }).GLIBC_TUNABLES, HUGE_PAGE_MALLOC_TUNABLE);
  assert.is(withHugePageMalloc({ PATH: '/bin' }).PATH, '/bin');
  assert.is(withHugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES, `glibc.malloc.arena_max=2:${HUGE_PAGE_MALLOC_TUNABLE}`);
  assert.is(withHugePageMalloc({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0');
});

/** AnonHugePages of a Node child that fills its heap with 64 KiB buffers, as a PC's reads do. */
function hugePagesOfChild(env: NodeJS.ProcessEnv): number {
  const script =
    'const b=[];for(let i=0;i<1000;i++)b.push(Buffer.alloc(64<<10,1));' +
    "console.log(/AnonHugePages:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/smaps_rollup','utf8'))[1])";
  return Number(execFileSync(process.execPath, ['-e', script], { env }).toString().trim());
}

test('a child started with it gets its heap on huge pages (when the kernel allows THP)', () => {
  const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  if (thp.includes('[never]')) {
    console.log('  (skipped: transparent huge pages are off on this kernel)');
    return;
  }
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  assert.ok(hugePagesOfChild(withHugePageMalloc(env)) >= 2048, 'at least one 2 MiB page');
  if (thp.includes('[madvise]')) assert.is(hugePagesOfChild(env), 0, 'without it, none: so the tunable is what did it');
});

test.run();
