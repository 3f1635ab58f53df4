#!/usr/bin/env node
// The package's executable: everything lives in the compiled CLI.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error(
    'gredis: the TypeScript sources are not built yet; run "npm run build" (npm install does it too).',
  );
  process.exit(1);
}
const { main } = await import(cli.href);
await main(process.argv);
