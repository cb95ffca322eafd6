// Builds the web inbox (index.html) and GraphiQL (graphiql.html) into dist/, which is checked in
// and compiled into the binary. The build is deterministic (content-hashed names, no dates), so
// a test can rebuild it and compare; every text file gets a gzip copy the server sends to
// clients that accept it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defineConfig } from 'vite';

const COMPRESSIBLE = /\.(html|js|css|svg)$/;

function gzipCopies() {
  return {
    name: 'gzip-copies',
    apply: 'build',
    writeBundle({ dir }) {
      for (const entry of readdirSync(dir, { recursive: true })) {
        const file = join(dir, entry);
        if (COMPRESSIBLE.test(file)) writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
      }
    },
  };
}

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // GraphiQL's bundle is large by nature; the inbox's first load is measured in docs/ui.md.
    chunkSizeWarningLimit: 4000,
    // Inline assets would need `data:` in script-src/style-src; files keep the policy strict.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { index: 'index.html', graphiql: 'graphiql.html' },
    },
  },
  plugins: [gzipCopies()],
});
