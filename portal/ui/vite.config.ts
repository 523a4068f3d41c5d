// Built from the repository root (npm run build): `vite build --config portal/ui/vite.config.ts`.
// root is pinned to this folder so the command works from any working directory.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // Every option is here: no svelte.config.js for the plugin to go looking for.
  plugins: [svelte({ configFile: false })],
  build: {
    // Relative to root: /work/main/dist/portal/ui, served by portal/http/ui-static.ts.
    outDir: '../../dist/portal/ui',
    emptyOutDir: true,
    target: 'es2022',
    // Svelte's compiler is most of this small build; rolldown would warn about that every time.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  // For `vite --config portal/ui/vite.config.ts` against a portal running on its default port.
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
