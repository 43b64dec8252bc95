// Builds the React UI into dist/web, which the server serves. No React plugin: esbuild's automatic
// JSX runtime is all this app needs (no fast refresh in dev).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: path.resolve(here, '../../dist/web'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      // Libraries mark modules "use client" for React Server Components; meaningless in this SPA.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE' && !warning.message.includes('annotation that Rollup cannot interpret')) warn(warning);
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
