// Versioned schema migrations. Each runs once, in order, in its own transaction; the version is
// kept in PRAGMA user_version. Never edit a shipped migration: add the next one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * The migration turns on SQLite's incremental auto-vacuum. That setting changes the file's
   * layout, so on a file that already has tables it takes a VACUUM, which cannot run inside a
   * transaction: the store does it after the migration's transaction has committed
   * (Store.ensureIncrementalVacuum), and again at a later start if it could not then (no room).
   */
  autoVacuum?: 'incremental';
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'devices, runs, steps, measurements, sequences, outbox, token ledger',
    sql: `
      CREATE TABLE sequences (
        hash        TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        body        TEXT NOT NULL,            -- canonical JSON of the sequence
        created_at  INTEGER NOT NULL
      );

      -- Row sizes are small and every lookup is by device_id: WITHOUT ROWID saves an index page
      -- per blessing. Search by MAC or ICCID scans (indexes for them cost a page per commit).
      CREATE TABLE devices (
        device_id     TEXT PRIMARY KEY,
        mac           TEXT,
        iccid         TEXT,
        imei          TEXT,
        status        TEXT NOT NULL CHECK (status IN ('blessed','failed','interrupted')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_run_id   TEXT,
        first_seen_at INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        blessed_at    INTEGER,
        uploaded_at   INTEGER,
        -- first verdict (blessed or failed) decides first-pass yield; never changed after
        first_verdict TEXT CHECK (first_verdict IN ('blessed','failed'))
      ) WITHOUT ROWID;
      CREATE INDEX devices_updated ON devices (updated_at DESC, device_id);

      CREATE TABLE runs (
        run_id        TEXT PRIMARY KEY,
        slot          INTEGER NOT NULL,
        device_id     TEXT,
        sequence_hash TEXT NOT NULL REFERENCES sequences(hash),
        mode          TEXT NOT NULL CHECK (mode IN ('production','test')),
        status        TEXT NOT NULL CHECK (status IN ('running','blessed','failed','interrupted')),
        attempt       INTEGER,
        rework        INTEGER NOT NULL DEFAULT 0,
        started_at    INTEGER NOT NULL,
        ended_at      INTEGER,
        fail_step     TEXT,
        reason        TEXT
      );
      CREATE INDEX runs_device ON runs (device_id, started_at);
      -- Only open runs are in it: what start-up recovery looks for.
      CREATE INDEX runs_open ON runs (run_id) WHERE status = 'running';

      CREATE TABLE step_results (
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        step_index  INTEGER NOT NULL,
        name        TEXT NOT NULL,
        type        TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('pass','marginal','fail','error','skipped','interrupted')),
        attempts    INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        message     TEXT,
        PRIMARY KEY (run_id, step_index)
      );

      CREATE TABLE measurements (
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        step_index  INTEGER NOT NULL,
        name        TEXT NOT NULL,
        value_num   REAL,
        value_text  TEXT,
        unit        TEXT,
        outcome     TEXT NOT NULL CHECK (outcome IN ('pass','marginal','fail')),
        limit_json  TEXT,
        PRIMARY KEY (run_id, step_index, name)
      );

      -- One row per blessed or failed record, written in the same transaction as the verdict.
      -- seq is the per-station sequence number (AUTOINCREMENT: never reused, even after
      -- retention deletes rows); record_id (UUIDv7, time-ordered) is what the cloud deduplicates on.
      CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        record_id   TEXT NOT NULL UNIQUE,
        run_id      TEXT NOT NULL REFERENCES runs(run_id),
        device_id   TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('blessed','failed')),
        payload     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        batch_id    TEXT,
        uploaded_at INTEGER
      );

      -- Every factory token's life: reserved, sent, consumed, released, expired.
      CREATE TABLE token_ledger (
        token_id    TEXT PRIMARY KEY,
        ciphertext  BLOB NOT NULL,            -- AES-256-GCM; the token text is never stored in clear
        type        TEXT NOT NULL,
        expires_at  INTEGER NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('available','reserved','sent','consumed','released','expired','rejected')),
        run_id      TEXT,
        updated_at  INTEGER NOT NULL
      );
      CREATE INDEX token_ledger_state ON token_ledger (state, expires_at);
      CREATE TABLE token_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id    TEXT NOT NULL REFERENCES token_ledger(token_id),
        state       TEXT NOT NULL,
        run_id      TEXT,
        at          INTEGER NOT NULL,
        note        TEXT
      );
    `,
  },
  {
    version: 2,
    name: 'token ledger: key id, token digest, event lookup',
    sql: `
      -- Which token key sealed the row (TokenVault.keyId): a pool sealed under another key is left
      -- alone, never handed to a run that could not decrypt it.
      ALTER TABLE token_ledger ADD COLUMN key_id TEXT;
      -- A keyed HMAC of the token text (never the text): the same token arriving under a second
      -- tokenId is refused, so one token can never reach two DUTs.
      ALTER TABLE token_ledger ADD COLUMN digest BLOB;
      CREATE UNIQUE INDEX token_ledger_digest ON token_ledger (digest) WHERE digest IS NOT NULL;
      CREATE INDEX token_events_token ON token_events (token_id, id);
    `,
  },
  {
    version: 3,
    name: 'uplink: batches with fixed membership, dead letters',
    sql: `
      -- A batch is formed (its members marked with its batch_id) in one durable transaction before
      -- its first send; every retry sends the same members under the same batch_id.
      CREATE TABLE upload_batches (
        batch_id        TEXT PRIMARY KEY,
        sink            TEXT NOT NULL,
        first_seq       INTEGER NOT NULL,
        last_seq        INTEGER NOT NULL,
        records         INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_attempt_at INTEGER,
        last_error      TEXT,
        state           TEXT NOT NULL CHECK (state IN ('open','done')),
        done_at         INTEGER
      );
      CREATE INDEX upload_batches_open ON upload_batches (created_at) WHERE state = 'open';
      CREATE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
      -- What the next batch takes: records in no batch yet (new, or dead letters sent again).
      CREATE INDEX outbox_unbatched ON outbox (seq) WHERE batch_id IS NULL;
      -- Queued count and oldest queued age, without scanning every record ever uploaded.
      CREATE INDEX outbox_pending ON outbox (created_at) WHERE uploaded_at IS NULL;
      -- A device's uploadedAt is its last run's record's (run_id is a UUIDv7: this index grows at
      -- its right edge). Settling a batch then touches no device row, whose keys are random.
      CREATE INDEX outbox_run ON outbox (run_id);
      -- Records the cloud rejected for good: kept with its reason, never dropped, never blocking
      -- the records behind them. requeued_at is set when an engineer sends one again.
      CREATE TABLE dead_letters (
        record_id   TEXT PRIMARY KEY REFERENCES outbox(record_id),
        seq         INTEGER NOT NULL,
        batch_id    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        requeued_at INTEGER
      );
    `,
  },
  {
    version: 4,
    name: 'sequence versions and the active sequence',
    sql: `
      -- Every activation of a sequence, numbered: the configuration's at first start, then each
      -- engineer save (station/store/sequence-versions.ts). The same content saved again after
      -- other versions (a revert) is a new version with the same hash.
      CREATE TABLE sequence_versions (
        version     INTEGER PRIMARY KEY,
        hash        TEXT NOT NULL REFERENCES sequences(hash),
        author      TEXT NOT NULL CHECK (author IN ('engineer','config')),
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX sequence_versions_hash ON sequence_versions (hash, version);
      -- Small named values the station keeps across restarts: the active sequence's hash, and the
      -- configuration's sequence hash as of the last start (to tell whether the config changed).
      CREATE TABLE station_settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    name: 'sealed label secrets (the mobile secret) per device',
    sql: `
      -- A label's secret fields (the mobile secret a phone app uses): AES-256-GCM under the token
      -- key (station/identity/secret.ts), never stored in clear, never in an API answer or export.
      CREATE TABLE device_secrets (
        device_id  TEXT NOT NULL,
        field      TEXT NOT NULL,
        sealed     BLOB NOT NULL,
        key_id     TEXT NOT NULL,
        run_id     TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (device_id, field)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: 'steps inside groups, product variants, instrument traceability and lock waits',
    sql: `
      -- A step inside a group (station/sequence/steps/group.ts): the group's step_index and which
      -- attempt of the group; NULL for the sequence's own steps. Inner steps take step_index
      -- values after the sequence's own, in the order they ran.
      ALTER TABLE step_results ADD COLUMN parent_index INTEGER;
      ALTER TABLE step_results ADD COLUMN group_attempt INTEGER;
      -- How long the step waited for a shared instrument before it could start (ms); NULL: none.
      ALTER TABLE step_results ADD COLUMN wait_ms REAL;
      -- The product variant whose limits the run used (sequence variants); NULL: the base limits.
      ALTER TABLE runs ADD COLUMN variant TEXT;
      -- Which instrument took the measurement, and its serial number from *IDN? (traceability).
      ALTER TABLE measurements ADD COLUMN instrument_id TEXT;
      ALTER TABLE measurements ADD COLUMN instrument_serial TEXT;
      -- A sequence's script modules (JSON: path to source), stored with its version so the version
      -- runs, and shows, exactly what it ran; NULL for a sequence without scripts.
      ALTER TABLE sequences ADD COLUMN scripts TEXT;
      -- An engineer's decision to go on testing with an instrument past its calibration date
      -- (production mode refuses to otherwise): who, why, when, for which due date.
      CREATE TABLE calibration_overrides (
        instrument_id TEXT NOT NULL,
        due           TEXT NOT NULL,
        reason        TEXT NOT NULL,
        by_role       TEXT NOT NULL,
        at            INTEGER NOT NULL,
        PRIMARY KEY (instrument_id, due)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: 'alarm history and shelved alarms',
    sql: `
      -- The alarm board's history (station/alarms.ts, station/store/alarm-history.ts): every alarm
      -- announced (after its on-delay), cleared, acknowledged, shelved and unshelved, with who did it
      -- (actor: the session's role; "expiry" when a shelf ran out).
      CREATE TABLE alarm_events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       INTEGER NOT NULL,
        alarm_id TEXT NOT NULL,
        event    TEXT NOT NULL CHECK (event IN ('raised', 'cleared', 'acknowledged', 'shelved', 'unshelved')),
        severity TEXT,
        message  TEXT,
        slot     INTEGER,
        actor    TEXT,
        reason   TEXT,
        until    INTEGER
      );
      CREATE INDEX alarm_events_alarm ON alarm_events (alarm_id, seq);
      -- Alarms an engineer put aside, until when and why: they outlast a restart.
      CREATE TABLE alarm_shelves (
        alarm_id TEXT PRIMARY KEY,
        actor    TEXT NOT NULL,
        reason   TEXT NOT NULL,
        at       INTEGER NOT NULL,
        until    INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    name: 'uplink: several sinks, each with its own cursor, deliveries and dead letters',
    sql: `
      -- The sinks the outbox has known, by id (station/config/uplink.ts). active: in the current
      -- configuration. A sink owes every record with seq > start_after_seq (a sink added later starts
      -- at the records still waiting: nothing already delivered everywhere is replayed to it);
      -- claimed_through is its cursor: the highest seq it has put in one of its batches.
      CREATE TABLE uplink_sinks (
        sink_id          TEXT PRIMARY KEY,
        active           INTEGER NOT NULL,
        start_after_seq  INTEGER NOT NULL,
        claimed_through  INTEGER NOT NULL,
        added_at         INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- A record in one of a sink's batches, and when that sink acknowledged it. batch_id NULL: a dead
      -- letter requeued, waiting for the sink's next batch. Keyed by seq first: rows arrive in seq
      -- order per sink, and retention deletes by seq (the cascade).
      CREATE TABLE sink_records (
        seq           INTEGER NOT NULL REFERENCES outbox(seq) ON DELETE CASCADE,
        sink_id       TEXT NOT NULL,
        batch_id      TEXT,
        delivered_at  INTEGER,
        PRIMARY KEY (seq, sink_id)
      ) WITHOUT ROWID;
      CREATE INDEX sink_records_batch ON sink_records (batch_id) WHERE batch_id IS NOT NULL;
      -- A sink's records in its batches and not yet acknowledged (few: what is in flight).
      CREATE INDEX sink_records_waiting ON sink_records (sink_id, seq) WHERE delivered_at IS NULL;

      -- The state so far belonged to one sink: it becomes that sink's, under the id the first sink of
      -- its kind gets (upload_batches.sink held the kind: "http" or "file").
      INSERT INTO uplink_sinks (sink_id, active, start_after_seq, claimed_through, added_at)
        SELECT sink, 1, 0, coalesce((SELECT max(seq) FROM outbox WHERE batch_id IS NOT NULL), 0), unixepoch() * 1000
        FROM upload_batches ORDER BY created_at DESC, batch_id DESC LIMIT 1;
      UPDATE upload_batches SET sink = (SELECT sink_id FROM uplink_sinks) WHERE EXISTS (SELECT 1 FROM uplink_sinks);
      INSERT INTO sink_records (seq, sink_id, batch_id, delivered_at)
        SELECT o.seq, s.sink_id, o.batch_id, o.uploaded_at FROM outbox o JOIN uplink_sinks s ON o.seq <= s.claimed_through;

      -- Dead letters per sink: a record one sink refused for good may be fine for another.
      ALTER TABLE dead_letters RENAME TO dead_letters_v3;
      CREATE TABLE dead_letters (
        record_id   TEXT NOT NULL REFERENCES outbox(record_id) ON DELETE CASCADE,
        sink_id     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        batch_id    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        requeued_at INTEGER,
        PRIMARY KEY (record_id, sink_id)
      ) WITHOUT ROWID;
      CREATE INDEX dead_letters_batch ON dead_letters (batch_id);
      CREATE INDEX dead_letters_open ON dead_letters (sink_id, at) WHERE requeued_at IS NULL;
      INSERT INTO dead_letters (record_id, sink_id, seq, batch_id, reason, at, requeued_at)
        SELECT d.record_id, coalesce((SELECT b.sink FROM upload_batches b WHERE b.batch_id = d.batch_id), (SELECT sink_id FROM uplink_sinks), 'http'),
               d.seq, d.batch_id, d.reason, d.at, d.requeued_at
        FROM dead_letters_v3 d;
      DROP TABLE dead_letters_v3;

      -- outbox.uploaded_at now means: acknowledged by every configured sink (the outbox keeps it so;
      -- retention prunes by it). Batch membership moved to sink_records.
      DROP INDEX outbox_batch;
      DROP INDEX outbox_unbatched;
      DROP INDEX outbox_pending;
      ALTER TABLE outbox DROP COLUMN batch_id;
      -- Records some sink still owes, by seq: the queue counts and each sink's backlog past its cursor.
      CREATE INDEX outbox_waiting ON outbox (seq) WHERE uploaded_at IS NULL;
    `,
  },
  {
    version: 9,
    name: 'incremental auto-vacuum: the file shrinks after retention deletes',
    // Nothing to change in the tables: retention (station/store/retention.ts) deletes rows of the
    // existing tables. What changes is the file: with auto_vacuum = INCREMENTAL, the pages those
    // deletes free can be given back to the file system (PRAGMA incremental_vacuum) instead of
    // only being reused. A new database is created with it (Store.open); an existing one is
    // rewritten by one VACUUM after this migration commits (see autoVacuum).
    sql: `-- auto_vacuum = INCREMENTAL, set by the store with a VACUUM after this commit`,
    autoVacuum: 'incremental',
  },
  {
    version: 10,
    name: 'people: login sessions, user accounts, who answered each prompt, who saved each sequence version',
    sql: `
      -- Dashboard logins (station/auth/sessions.ts), so a restart logs nobody out. Keyed by the
      -- SHA-256 of the session id: the id itself (the cookie) is never stored. Times are wall-clock
      -- ms; a session past expires_at is gone (deleted at start and by the sweep).
      CREATE TABLE sessions (
        id_hash      TEXT PRIMARY KEY,
        user_name    TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('operator','engineer')),
        csrf_token   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX sessions_expiry ON sessions (expires_at);

      -- One login per person (station/auth/users.ts): operators with a PIN, engineers with a
      -- password, scrypt-hashed (station/auth/passwords.ts). secret_hash NULL: a built-in account
      -- ("operator", "engineer") whose PIN or password comes from the environment, the
      -- configuration or credentials.txt (station/auth/credentials.ts).
      CREATE TABLE users (
        name        TEXT PRIMARY KEY COLLATE NOCASE,
        role        TEXT NOT NULL CHECK (role IN ('operator','engineer')),
        secret_hash TEXT,
        disabled    INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        created_by  TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        updated_by  TEXT NOT NULL
      );

      -- Who answered each operator prompt of a run, and what (a scan's answer as shown: secrets masked).
      CREATE TABLE prompt_answers (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id      TEXT NOT NULL,
        prompt_id   TEXT NOT NULL,
        slot        INTEGER NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('choice','scan')),
        text        TEXT NOT NULL,
        answer      TEXT,
        by_name     TEXT,
        by_role     TEXT,
        at          INTEGER NOT NULL
      );
      CREATE INDEX prompt_answers_run ON prompt_answers (run_id, seq);

      -- Who saved a sequence version (the person's login name; NULL before migration 10 and for the
      -- configuration's), and the change note they gave.
      ALTER TABLE sequence_versions ADD COLUMN author_name TEXT;
      ALTER TABLE sequence_versions ADD COLUMN note TEXT;
    `,
  },
];
