// vitest globalSetup: integration tests run the compiled daemon (dist/), so compile first.
// `tsc -b`: incremental, and a no-change build only compares file times (a fifth of a second).
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../station/paths.js';

export default function setup(): void {
  execFileSync(process.execPath, [`${PROJECT_ROOT}/node_modules/typescript/bin/tsc`, '-b', 'tsconfig.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
}
