// The PC's client as three self-contained files (dist/pc/): the `shoal` CLI and its two worker
// threads, bundled by esbuild from tsc's output. A PXE-booted PC runs this, not dist/client/:
// loading webtorrent's few hundred small modules cost about 1 s of CPU per start, the bundle half
// that, and the boot image then carries one file instead of node_modules.
// Native addons stay outside (zstd-napi is copied beside the bundle by the boot-image build).
// uTP is off in every Shoal swarm, and so are UPnP and NAT-PMP (shared/webtorrent/lan-client.ts):
// utp-native and the NAT client (with its XML parser) are replaced by an empty module rather than
// loaded. Whitespace and syntax are minified, names kept (stack traces stay readable): a PC pays
// for reading, decoding and compiling the bundle at every start. Both cut the start of
// `shoal --help` from about 360 to about 300 ms of CPU (docs/benchmarks.md, 2026-12-05).
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
  alias: { 'utp-native': './shared/swarm/unused-module.cjs', '@silentbot1/nat-api': './shared/swarm/unused-module.cjs' },
  minifyWhitespace: true,
  minifySyntax: true,
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __shoalRequire } from 'node:module'; const require = __shoalRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
