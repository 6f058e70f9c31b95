// Versioned schema migrations. Each runs once, in order, in its own transaction; the version is
// kept in PRAGMA user_version. Never edit a shipped migration: add the next one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
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
];
