// The PC's client as three self-contained files (dist/pc/): the `shoal` CLI and its two worker
// threads, bundled by esbuild from tsc's output. A PXE-booted PC runs this, not dist/client/:
// loading webtorrent's few hundred small modules cost about 1 s of CPU per start, the bundle half
// that, and the boot image then carries one file instead of node_modules.
// Native addons stay outside (zstd-napi is copied beside the bundle by the boot-image build).
// uTP is off in every Shoal swarm, so utp-native is replaced by an empty module rather than loaded.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/client/cli.js', 'dist/client/piece-workers/pack-worker.js', 'dist/client/piece-workers/unpack-worker.js'],
  outdir: 'dist/pc',
  // Flat: the workers' URLs are './pack-worker.js' and './unpack-worker.js' beside the CLI.
  entryNames: '[name]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['zstd-napi', 'zstd-napi/*'],
  alias: { 'utp-native': './shared/swarm/utp-off.cjs' },
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __shoalRequire } from 'node:module'; const require = __shoalRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
