// vitest globalSetup: integration tests run the compiled daemon (dist/), so compile first.
// Incremental: a no-op when `npm test` has just built it.
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../station/paths.js';

export default function setup(): void {
  execFileSync(process.execPath, [`${PROJECT_ROOT}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
}
