// Sequence versions (migration 4): every sequence the station has run from, numbered, with the
// content hash every run records; which one is active, kept across restarts; and the rule that
// decides, at start, between the configuration's sequence and the one an engineer saved.
//
// Start-up rule: the configuration's sequence wins only when it changed since the last start (an
// edited config file is a deliberate act); otherwise the last active version stays active, so an
// engineer's save survives a restart with an unchanged config.
import type { Logger } from 'pino';
import { storedReader, type ScriptSources } from '../sequence/script-sandbox.js';
import { canonicalJson, loadSequence, type CompiledSequence, type SequenceDef } from '../sequence/sequence.js';
import type { Store } from './store.js';

export interface SequenceVersionSummary {
  version: number;
  hash: string;
  name: string;
  createdAt: string;
  stepCount: number;
  author: 'engineer' | 'config';
  /** Who saved it (their login name); null for the configuration's and for versions saved before migration 10. */
  by: string | null;
  /** The change note given at the save; null where none was asked for. */
  note: string | null;
}

export interface SequenceVersionDetail {
  version: number;
  hash: string;
  name: string;
  createdAt: string;
  author: 'engineer' | 'config';
  by: string | null;
  note: string | null;
  definition: SequenceDef;
  /** The script modules it runs (path to source), shown read-only with the version. */
  scripts: ScriptSources;
  /** The hash of the version before this one, or null for version 1. */
  previousHash: string | null;
  previousDefinition: SequenceDef | null;
  /** The previous version's script modules ({} without scripts), or null for version 1. */
  previousScripts: ScriptSources | null;
}

const ACTIVE_KEY = 'sequence.active';
const CONFIG_KEY = 'sequence.configHash';

interface VersionRow {
  version: number;
  hash: string;
  name: string;
  body: string;
  scripts?: string | null;
  author: 'engineer' | 'config';
  author_name: string | null;
  note: string | null;
  created_at: number;
}

export class SequenceVersions {
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  private get db() {
    return this.store.database;
  }

  private setting(key: string): string | null {
    const row = this.db.prepare(`SELECT value FROM station_settings WHERE key = ?`).get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  private setSettingInTxn(key: string, value: string): void {
    this.db.prepare(`INSERT INTO station_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(key, value);
  }

  private insertVersionInTxn(seq: CompiledSequence, author: 'engineer' | 'config', now: number, by: { name: string; note: string } | null = null): number {
    this.db
      .prepare(`INSERT OR IGNORE INTO sequences (hash, name, body, created_at, scripts) VALUES (?, ?, ?, ?, ?)`)
      .run(seq.hash, seq.def.name, canonicalJson(seq.def), now, Object.keys(seq.scripts).length > 0 ? JSON.stringify(seq.scripts) : null);
    const version = Number(
      this.db.prepare(`INSERT INTO sequence_versions (hash, author, created_at, author_name, note) VALUES (?, ?, ?, ?, ?)`).run(seq.hash, author, now, by?.name ?? null, by?.note ?? null)
        .lastInsertRowid,
    );
    this.setSettingInTxn(ACTIVE_KEY, seq.hash);
    return version;
  }

  /**
   * At start, after the store is open: decides which sequence is active (see the header) and
   * returns it. A stored version that no longer loads falls back to the configuration's, logged.
   */
  reconcile(config: CompiledSequence): { active: CompiledSequence; source: 'config' | 'stored' } {
    const now = Date.now();
    const latest = this.db.prepare(`SELECT max(version) AS v FROM sequence_versions`).get() as { v: number | null };
    const lastConfigHash = this.setting(CONFIG_KEY);
    const activeHash = this.setting(ACTIVE_KEY);
    const source = this.store.durably((): 'config' | 'stored' => {
      let from: 'config' | 'stored' = 'stored';
      if (latest.v === null || activeHash === null) {
        this.insertVersionInTxn(config, 'config', now);
        from = 'config';
      } else if (lastConfigHash !== config.hash) {
        if (activeHash !== config.hash) this.insertVersionInTxn(config, 'config', now);
        from = 'config';
      }
      this.setSettingInTxn(CONFIG_KEY, config.hash);
      return from;
    });
    if (source === 'config') return { active: config, source };
    const hash = this.activeHash();
    if (hash === config.hash) return { active: config, source: 'config' };
    const stored = this.load(hash);
    if (!stored) {
      this.log.error({ hash }, "the active sequence version cannot be loaded; using the configuration's sequence instead");
      this.store.durably(() => this.insertVersionInTxn(config, 'config', Date.now()));
      return { active: config, source: 'config' };
    }
    this.log.info({ hash: hash.slice(0, 12), name: stored.def.name }, "the configuration's sequence is unchanged since the last start: the sequence saved from the console stays active");
    return { active: stored, source };
  }

  activeHash(): string {
    const hash = this.setting(ACTIVE_KEY);
    if (!hash) throw new Error('no active sequence: SequenceVersions.reconcile() must run at start');
    return hash;
  }

  /** The sequence stored under `hash`, compiled, or null when unknown or no longer valid. */
  load(hash: string): CompiledSequence | null {
    const row = this.db.prepare(`SELECT body, scripts FROM sequences WHERE hash = ?`).get(hash) as { body: string; scripts: string | null } | undefined;
    if (!row) return null;
    try {
      // A stored version runs the scripts it was saved with, whatever is on disk now.
      const scripts = row.scripts ? storedReader(JSON.parse(row.scripts) as ScriptSources) : undefined;
      const seq = loadSequence(JSON.parse(row.body), `stored sequence ${hash.slice(0, 12)}`, scripts ? { scripts } : {});
      if (seq.hash !== hash) {
        this.log.error({ hash, recomputed: seq.hash }, "a stored sequence no longer hashes to its key (the schema's defaults changed?)");
        return null;
      }
      return seq;
    } catch (err) {
      this.log.error({ err, hash }, 'a stored sequence no longer passes validation');
      return null;
    }
  }

  /** Every version, newest first. */
  list(): SequenceVersionSummary[] {
    const rows = this.db
      .prepare(`SELECT v.version, v.hash, s.name, s.body, v.author, v.author_name, v.note, v.created_at FROM sequence_versions v JOIN sequences s ON s.hash = v.hash ORDER BY v.version DESC`)
      .all() as VersionRow[];
    return rows.map((r) => ({
      version: r.version,
      hash: r.hash,
      name: r.name,
      createdAt: new Date(r.created_at).toISOString(),
      stepCount: (JSON.parse(r.body) as SequenceDef).steps.length,
      author: r.author,
      by: r.author_name,
      note: r.note,
    }));
  }

  /** The newest version with this hash, with the version before it; null when none. */
  get(hash: string): SequenceVersionDetail | null {
    const row = this.db
      .prepare(
        `SELECT v.version, v.hash, s.name, s.body, s.scripts, v.author, v.author_name, v.note, v.created_at FROM sequence_versions v JOIN sequences s ON s.hash = v.hash WHERE v.hash = ? ORDER BY v.version DESC LIMIT 1`,
      )
      .get(hash) as VersionRow | undefined;
    if (!row) return null;
    const prev = this.db
      .prepare(`SELECT v.hash, s.body, s.scripts FROM sequence_versions v JOIN sequences s ON s.hash = v.hash WHERE v.version < ? ORDER BY v.version DESC LIMIT 1`)
      .get(row.version) as { hash: string; body: string; scripts: string | null } | undefined;
    return {
      version: row.version,
      hash: row.hash,
      name: row.name,
      createdAt: new Date(row.created_at).toISOString(),
      author: row.author,
      by: row.author_name,
      note: row.note,
      definition: JSON.parse(row.body) as SequenceDef,
      scripts: row.scripts ? (JSON.parse(row.scripts) as ScriptSources) : {},
      previousHash: prev?.hash ?? null,
      previousDefinition: prev ? (JSON.parse(prev.body) as SequenceDef) : null,
      previousScripts: prev ? (prev.scripts ? (JSON.parse(prev.scripts) as ScriptSources) : {}) : null,
    };
  }

  /**
   * Saves `seq` as a new version and makes it active (durable on return). The same content as the
   * active version is not a new version: `created` is false and the active version is returned.
   */
  save(
    seq: CompiledSequence,
    author: 'engineer' | 'config' = 'engineer',
    by: { name: string; note: string } | null = null,
  ): { version: number; created: boolean; previous: { definition: SequenceDef; scripts: ScriptSources } | null } {
    const active = this.activeHash();
    if (active === seq.hash) {
      const current = this.get(active);
      if (!current) throw new Error(`the active sequence ${active} has no version row`);
      return { version: current.version, created: false, previous: current.previousDefinition ? { definition: current.previousDefinition, scripts: current.previousScripts ?? {} } : null };
    }
    const was = this.get(active);
    const previous = was ? { definition: was.definition, scripts: was.scripts } : null;
    const version = this.store.durably(() => this.insertVersionInTxn(seq, author, Date.now(), by));
    return { version, created: true, previous };
  }
}
