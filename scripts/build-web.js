// Bundles nin serve's page (web/) into dist/web with esbuild: the TypeScript entry, split so that TF.js
// loads only with the playground, plus index.html and style.css. Run by `npm run build` (and so by
// npm ci's prepare); nothing is fetched at run time, so the page works offline.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'web');

async function main() {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'web', 'main.ts')],
    bundle: true,
    splitting: true, // the playground (and TF.js with it) is a chunk of its own
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    outdir: out,
    entryNames: 'app',
    chunkNames: 'chunk-[hash]',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
    metafile: true,
  });
  for (const name of ['index.html', 'style.css']) fs.copyFileSync(path.join(root, 'web', name), path.join(out, name));
  const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  process.stderr.write(`build-web: dist/web (${Object.keys(result.metafile.outputs).length} scripts, ${(bytes / 1e6).toFixed(2)} MB)\n`);
}

main().catch((err) => {
  process.stderr.write(`build-web: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
