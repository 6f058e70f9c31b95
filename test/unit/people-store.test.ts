// The people in the record (migration 10), on a real SQLite store: sessions kept under the SHA-256
// of their id and restored after a "restart" (a new SessionStore on the same file) with the idle
// time they had left; expired and logged-out sessions deleted; user accounts (the built-in ones
// from the bootstrap credentials, a person's own PIN or password, disabled, reset); who answered
// each prompt; who saved each sequence version, with the change note.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Credentials } from '../../station/auth/credentials.js';
import { DEFAULT_SCRYPT, hashSecret } from '../../station/auth/passwords.js';
import { SessionStore } from '../../station/auth/sessions.js';
import { UserDirectory, UserError } from '../../station/auth/users.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { PromptAnswerLog, SessionTable, UserTable } from '../../station/store/people.js';
import { SequenceVersions } from '../../station/store/sequence-versions.js';
import { Store } from '../../station/store/store.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  dirs.cleanup();
});

function openStore(dir = dirs.make()): { store: Store; dir: string } {
  const store = new Store(dir, silentLogger());
  store.open();
  open.push(store);
  return { store, dir };
}

/** One clock for the monotonic and the wall time (SessionStore's `now` stands for both). */
function clock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const rows = (store: Store): { id_hash: string; user_name: string; role: string; expires_at: number }[] =>
  store.database.prepare('SELECT id_hash, user_name, role, expires_at FROM sessions ORDER BY created_at').all() as never;

/** Cheap scrypt for tests (2^14, the lowest the parser accepts). */
const fastHash = (secret: string): Promise<string> => hashSecret(secret, { ...DEFAULT_SCRYPT, N: 2 ** 14 });

function credentials(dir: string, env: Record<string, string> = { STATION_OPERATOR_PIN: '2468', STATION_ENGINEER_PASSWORD: 'shared-engineer-pw' }): Credentials {
  return Credentials.resolve({ mode: 'production', env, auth: {}, dataDir: dir });
}

describe('sessions in SQLite', () => {
  it('keeps each session under the SHA-256 of its id, never the id, and brings it back after a restart with the idle time it had left', () => {
    const { store } = openStore();
    const c = clock();
    const before = new SessionStore({ idleMs: 10_000, now: c.now });
    expect(before.persistTo(new SessionTable(store))).toBe(0);
    const s = before.create('operator', 'Anna');
    expect(rows(store)).toEqual([{ id_hash: sha256(s.id), user_name: 'Anna', role: 'operator', expires_at: c.now() + 10_000 }]);
    const text = JSON.stringify(store.database.prepare('SELECT * FROM sessions').all());
    expect(text).not.toContain(s.id);
    c.advance(4_000);

    // The daemon restarts: a new store of sessions on the same table.
    const after = new SessionStore({ idleMs: 10_000, now: c.now });
    expect(after.persistTo(new SessionTable(store))).toBe(1);
    const back = after.peek(s.id);
    expect(back).toMatchObject({ user: 'Anna', role: 'operator', csrfToken: s.csrfToken });
    expect(after.peek('x'.repeat(43))).toBeNull();
    // 4 s of its 10 were gone before the restart: 6 s are left, not 10.
    c.advance(5_999);
    expect(after.peek(s.id)).not.toBeNull();
    c.advance(1);
    expect(after.peek(s.id)).toBeNull();
    expect(rows(store)).toEqual([]);
  });

  it('deletes a logged-out session at once, and expired ones at the sweep and at start', () => {
    const { store } = openStore();
    const c = clock();
    const sessions = new SessionStore({ idleMs: 10_000, now: c.now });
    sessions.persistTo(new SessionTable(store));
    const a = sessions.create('engineer', 'Eve');
    const b = sessions.create('operator', 'Anna');
    sessions.end(a.id);
    expect(rows(store).map((r) => r.id_hash)).toEqual([sha256(b.id)]);
    c.advance(10_000);
    sessions.sweep();
    expect(rows(store)).toEqual([]);
    expect(sessions.size).toBe(0);

    // A row left expired by a daemon that stopped is deleted when the next one starts.
    const d = sessions.create('operator', 'Anna');
    c.advance(20_000);
    const next = new SessionStore({ idleMs: 10_000, now: c.now });
    expect(next.persistTo(new SessionTable(store))).toBe(0);
    expect(rows(store)).toEqual([]);
    expect(next.peek(d.id)).toBeNull();
  });

  it('ends every session of one person, here and in the table, and tells the listeners', () => {
    const { store } = openStore();
    const sessions = new SessionStore();
    sessions.persistTo(new SessionTable(store));
    const ended: string[] = [];
    sessions.onEnd((id) => ended.push(id));
    const a1 = sessions.create('operator', 'Anna');
    const a2 = sessions.create('operator', 'anna');
    const b = sessions.create('operator', 'Bob');
    expect(sessions.endUser('ANNA')).toBe(2);
    expect(ended.sort()).toEqual([a1.id, a2.id].sort());
    expect(rows(store).map((r) => r.user_name)).toEqual(['Bob']);
    expect(sessions.peek(b.id)).not.toBeNull();
  });

  it('writes "last seen" at most once a minute per session, so a busy page is not a write per request', () => {
    const { store } = openStore();
    const c = clock();
    const sessions = new SessionStore({ idleMs: 3_600_000, now: c.now });
    sessions.persistTo(new SessionTable(store));
    const s = sessions.create('operator', 'Anna');
    const first = rows(store)[0]?.expires_at;
    c.advance(30_000);
    sessions.touch(s.id);
    store.flush();
    expect(rows(store)[0]?.expires_at).toBe(first);
    c.advance(30_000);
    sessions.touch(s.id);
    store.flush();
    expect(rows(store)[0]?.expires_at).toBe(c.now() + 3_600_000);
  });
});

describe('user accounts', () => {
  it('has the built-in accounts from the first start, checked against the bootstrap PIN and password', async () => {
    const { store, dir } = openStore();
    const users = new UserDirectory(new UserTable(store), credentials(dir), { hash: fastHash });
    expect(users.list().map((u) => [u.name, u.role, u.builtin, u.secretSource])).toEqual([
      ['engineer', 'engineer', true, 'env'],
      ['operator', 'operator', true, 'env'],
    ]);
    expect(await users.verify('operator', null, '2468')).toEqual({ name: 'operator', role: 'operator' });
    expect(await users.verify('operator', 'operator', '2468')).toEqual({ name: 'operator', role: 'operator' });
    expect(await users.verify('engineer', null, 'shared-engineer-pw')).toEqual({ name: 'engineer', role: 'engineer' });
    expect(await users.verify('operator', null, '1111')).toBeNull();
    // A role's name with the other role's secret is no login.
    expect(await users.verify('engineer', 'operator', '2468')).toBeNull();
    // Built-in: not reset here (set where the station starts), but disabled and enabled again.
    const eve = { name: 'Eve', role: 'engineer' as const };
    await expect(users.reset('operator', '9999', eve)).rejects.toThrow(/built-in/);
    users.setDisabled('operator', true, eve);
    expect(await users.verify('operator', null, '2468')).toBeNull();
    expect(users.operatorNames()).toEqual([]);
    users.setDisabled('operator', false, eve);
    expect(await users.verify('operator', null, '2468')).not.toBeNull();
  });

  it('adds a person with their own PIN or password (hashed), resets it, disables it; names are unique whatever the case', async () => {
    const { store, dir } = openStore();
    const table = new UserTable(store);
    const users = new UserDirectory(table, credentials(dir), { hash: fastHash });
    const eve = { name: 'engineer', role: 'engineer' as const };
    const anna = await users.add({ name: ' Anna Berg ', role: 'operator', secret: '135790' }, eve);
    expect(anna).toMatchObject({ name: 'Anna Berg', role: 'operator', builtin: false, disabled: false, secretSource: null, createdBy: 'engineer' });
    expect(JSON.stringify(anna)).not.toMatch(/135790|scrypt/);
    const stored = table.get('anna berg');
    expect(stored?.secretHash).toMatch(/^scrypt\$/);
    expect(stored?.secretHash).not.toContain('135790');
    expect(await users.verify('operator', 'anna berg', '135790')).toEqual({ name: 'Anna Berg', role: 'operator' });
    expect(await users.verify('operator', 'Anna Berg', '2468')).toBeNull(); // the shared PIN is not hers
    expect(await users.verify('operator', 'Nobody', '135790')).toBeNull();
    expect(users.operatorNames()).toEqual(['Anna Berg', 'operator']);

    await expect(users.add({ name: 'ANNA BERG', role: 'operator', secret: '1234' }, eve)).rejects.toMatchObject({ status: 409 });
    await expect(users.add({ name: 'Bob', role: 'operator', secret: '12a4' }, eve)).rejects.toThrow('an operator PIN is 4 to 12 digits');
    await expect(users.add({ name: 'Carl', role: 'engineer', secret: 'short' }, eve)).rejects.toThrow(/8 to 256/);
    await expect(users.add({ name: '<script>', role: 'operator', secret: '1234' }, eve)).rejects.toBeInstanceOf(UserError);

    const reset = await users.reset('Anna Berg', '864200', { name: 'Eve', role: 'engineer' });
    expect(reset.updatedBy).toBe('Eve');
    expect(await users.verify('operator', 'Anna Berg', '135790')).toBeNull();
    expect(await users.verify('operator', 'Anna Berg', '864200')).not.toBeNull();
    users.setDisabled('Anna Berg', true, eve);
    expect(await users.verify('operator', 'Anna Berg', '864200')).toBeNull();
    expect(users.enabled('Anna Berg')).toBe(false);
  });

  it('refuses to disable your own account or the last enabled engineer', async () => {
    const { store, dir } = openStore();
    const users = new UserDirectory(new UserTable(store), credentials(dir), { hash: fastHash });
    const builtin = { name: 'engineer', role: 'engineer' as const };
    expect(() => users.setDisabled('engineer', true, builtin)).toThrow('you cannot disable your own account');
    expect(() => users.setDisabled('engineer', true, { name: 'Eve', role: 'engineer' })).toThrow(/last enabled engineer/);
    await users.add({ name: 'Eve', role: 'engineer', secret: 'eve-password' }, builtin);
    expect(users.setDisabled('engineer', true, { name: 'Eve', role: 'engineer' }).disabled).toBe(true);
  });
});

describe('who answered each prompt', () => {
  it('records the answer, the prompt and the person with the run; a scan as shown, never as scanned', async () => {
    const { store } = openStore();
    const bus = new StationBus(silentLogger());
    const prompts = new PromptBroker(bus);
    const log = new PromptAnswerLog(store);
    prompts.useRecorder((e) => log.record(e));
    const signal = new AbortController().signal;
    const asked = prompts.ask({ slot: 1, runId: 'run-1', text: 'Is the LED green?', answers: ['yes', 'no'], timeoutMs: 10_000, signal });
    const first = prompts.list()[0]?.promptId as string;
    expect(() => prompts.answer(first, 'maybe', { name: 'Anna', role: 'operator' })).toThrow();
    prompts.answer(first, 'yes', { name: 'Anna', role: 'operator' });
    await expect(asked).resolves.toBe('yes');
    const scanned = prompts.askScan({ slot: 1, runId: 'run-1', text: 'Scan the label', expected: 'a label', check: (s) => ({ ok: true, value: s, shown: 'SN••••1234' }), timeoutMs: 10_000, signal });
    prompts.answer(prompts.list()[0]?.promptId as string, 'SECRET-SN1234');
    await scanned;
    const lines = log.ofRun('run-1');
    expect(lines).toEqual([
      { promptId: first, slot: 1, kind: 'choice', text: 'Is the LED green?', answer: 'yes', by: 'Anna', byRole: 'operator', at: expect.any(String) },
      { promptId: expect.any(String), slot: 1, kind: 'scan', text: 'Scan the label', answer: 'SN••••1234', by: null, byRole: null, at: expect.any(String) },
    ]);
    expect(JSON.stringify(store.database.prepare('SELECT * FROM prompt_answers').all())).not.toContain('SECRET');
    expect(log.ofRun('run-2')).toEqual([]);
  });
});

describe('who saved each sequence version', () => {
  it('keeps the author and the change note with the version; the configuration has neither', () => {
    const { store } = openStore();
    const versions = new SequenceVersions(store, silentLogger());
    const config = compileSmallSequence();
    store.registerSequence(config);
    versions.reconcile(config);
    const edited = compileSmallSequence({ name: 'edited' });
    const saved = versions.save(edited, 'engineer', { name: 'Eve', note: 'renamed for the new product' });
    expect(saved.created).toBe(true);
    expect(versions.list().map((v) => [v.version, v.author, v.by, v.note])).toEqual([
      [2, 'engineer', 'Eve', 'renamed for the new product'],
      [1, 'config', null, null],
    ]);
    expect(versions.get(edited.hash)).toMatchObject({ by: 'Eve', note: 'renamed for the new product' });
  });
});
