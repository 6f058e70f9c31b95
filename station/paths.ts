// Where the project's own files are, whether running from the TypeScript sources (tests) or from
// the compiled dist/ (npm start).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'blinkup-station') return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the blinkup-station package root above station/paths');
}

export const PROJECT_ROOT = findRoot();
export const UI_DIR = path.join(PROJECT_ROOT, 'ui');
export const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
