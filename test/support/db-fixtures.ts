// The committed station databases at every past schema version (test/fixtures/db, made by
// `npm run fixtures:db`): their list, and a copy of one as a data folder's station.db.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PROJECT_ROOT } from '../../station/paths.js';
import type { FixtureInfo } from '../fixtures/db/make-fixtures.js';

export const DB_FIXTURE_DIR = path.join(PROJECT_ROOT, 'test/fixtures/db');

export function dbFixtures(): FixtureInfo[] {
  return JSON.parse(readFileSync(path.join(DB_FIXTURE_DIR, 'fixtures.json'), 'utf8')) as FixtureInfo[];
}

/** Writes the fixture, unzipped, to `file`. */
export function copyDbFixture(fixture: FixtureInfo, file: string): void {
  writeFileSync(file, gunzipSync(readFileSync(path.join(DB_FIXTURE_DIR, fixture.file))), { mode: 0o600 });
}
