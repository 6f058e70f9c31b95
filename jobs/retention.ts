// Retention (storage.retention, docs/storage.md#retention-and-the-disk-budget): deletes the
// history the station no longer needs (runs, step results, measurements, prompt answers and outbox
// records of runs older than the retention and acknowledged by every sink), first archiving it as gzip NDJSON when
// an archive folder is set, then gives the freed pages back to the file system (incremental
// vacuum). Which rows may go is station/store/retention.ts's to say; this job schedules passes (at
// start and every interval), writes the archive, reports its state for health, and relieves the
// disk budget on demand.
//
// A pass works in batches of `batchRuns` runs: read them, archive them (written to a temporary
// name, fsynced, linked into place, the folder fsynced), and only then delete them. A crash between
// the two leaves the runs in the store and in the archive: the next pass archives them again
// (readers deduplicate on runId). The deletes run in short transactions, in slices of the event
// loop (Slice, below) that yield to the line between them: the line's own writes share the store's
// one connection, and never wait for more than a slice.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { RetentionCounts, RetentionStatus, StationBus } from '../station/events.js';
import { addCounts, NO_PRUNE, StoreRetention, type RunRows } from '../station/store/retention.js';
import type { Store } from '../station/store/store.js';

const gzipAsync = promisify(gzip);

export const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** History older than this (by a run's end) may go; null: retention is off (nothing is deleted,
   *  but the disk budget can still ask for a vacuum). The config gives days; the soak a few seconds. */
  retentionMs: number | null;
  /** The configured days, for health (null: off, or a retention given in ms only). */
  days: number | null;
  /** Absolute folder for the archive, or null: what is pruned is not kept. */
  archiveDir: string | null;
  /** Time between passes. */
  intervalMs: number;
  /** The first pass, this long after start (so it does not slow the start itself). */
  startDelayMs?: number;
  /** Runs per delete transaction (and per archive file). */
  batchRuns?: number;
  /** Free pages given back per incremental_vacuum call (the calls yield between them). */
  vacuumStepPages?: number;
  /** In archive file names. */
  stationId: string;
  /** The wall clock records are stamped with (tests move it). */
  now?: () => number;
}

export interface PassResult {
  counts: RetentionCounts;
  /** Runs past the cutoff kept because a record of theirs is not acknowledged yet. */
  held: number;
  /** Bytes given back to the file system by the vacuum. */
  vacuumBytes: number;
  archiveFiles: string[];
  ms: number;
}

const DEFAULT_BATCH_RUNS = 500;
const DEFAULT_VACUUM_STEP_PAGES = 2048;
const ALARM_ID = 'retention.failed';

/**
 * The share of the event loop a pass takes: it works for a slice, then yields a turn to the line.
 * A slice lasts MIN_SLICE_MS, and at least until it has deleted 1.5 times the runs the line
 * finished during its last turn: retention keeps up with a line at any speed (deleting a unit's
 * rows costs about what writing them did), and holds a quiet line for no more than MIN_SLICE_MS
 * (and the one transaction under way) at a time.
 */
const MIN_SLICE_MS = 20;
const KEEP_UP = 1.5;

class Slice {
  private startedAt = performance.now();
  private quota = 0;
  private done = 0;
  private verdictsAtYield = 0;

  constructor(private readonly verdicts: () => number) {
    this.verdictsAtYield = verdicts();
  }

  /** Until when a delete may go on, and how many runs it must take whatever the time. */
  get deadline(): number {
    return this.startedAt + MIN_SLICE_MS;
  }

  get minRuns(): number {
    return Math.max(0, this.quota - this.done);
  }

  count(runs: number): void {
    this.done += runs;
  }

  spent(): boolean {
    return performance.now() >= this.deadline && this.done >= this.quota;
  }

  /** The event loop was given up elsewhere (an archive file's write): the slice starts again. */
  restart(): void {
    this.startedAt = performance.now();
  }

  async yield(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const finished = this.verdicts() - this.verdictsAtYield;
    this.verdictsAtYield = this.verdicts();
    this.quota = Math.ceil(finished * KEEP_UP);
    this.done = 0;
    this.startedAt = performance.now();
  }
}

export class RetentionJob {
  private readonly rows: StoreRetention;
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<PassResult> | null = null;
  private stopping = false;
  private alarmRaised = false;
  private partialsCleared = false;
  private archiveSeq = 0;
  /** Verdicts the line has reached (run.finished): how fast it makes history, for the slices. */
  private verdicts = 0;
  private offRun: (() => void) | null = null;
  private st: Omit<RetentionStatus, 'enabled' | 'days' | 'archiveDir' | 'oldestKeptRunAt'>;

  constructor(
    private readonly store: Store,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly opts: RetentionOptions,
  ) {
    this.rows = new StoreRetention(store);
    this.st = {
      state: opts.retentionMs === null ? 'off' : 'idle',
      lastPruneAt: null,
      lastPruned: null,
      prunedSinceStart: { ...NO_PRUNE },
      heldUndelivered: null,
      lastVacuumBytes: null,
      nextPruneAt: null,
      lastArchiveFile: null,
      lastError: null,
    };
  }

  get enabled(): boolean {
    return this.opts.retentionMs !== null;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    this.stopping = false;
    if (!this.enabled) return;
    this.offRun = this.bus.on('run.finished', () => this.verdicts++);
    this.log.info({ days: this.opts.days, retentionMs: this.opts.retentionMs, archiveDir: this.opts.archiveDir, intervalMs: this.opts.intervalMs }, 'retention on');
    this.scheduleNext(this.opts.startDelayMs ?? 5000);
  }

  /** Stops scheduling; a pass under way finishes the transaction under way and stops there. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.offRun?.();
    this.offRun = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.st.nextPruneAt = null;
    await this.pass?.catch(() => undefined);
  }

  status(): RetentionStatus {
    let oldest: number | null = null;
    try {
      oldest = this.rows.oldestRunStartedAt();
    } catch {
      // the store is closed (before start, after stop) or failing: health still answers
    }
    return {
      enabled: this.enabled,
      days: this.opts.days,
      archiveDir: this.opts.archiveDir,
      ...this.st,
      prunedSinceStart: { ...this.st.prunedSinceStart },
      oldestKeptRunAt: oldest === null ? null : new Date(oldest).toISOString(),
    };
  }

  /**
   * One pass now (or the pass already under way): prune, archive, vacuum. Rejects when the pass
   * failed (the state and the alarm say so too). With retention off it only vacuums.
   */
  runNow(reason: string): Promise<PassResult> {
    if (this.pass) return this.pass;
    if (this.stopping) return Promise.resolve({ counts: { ...NO_PRUNE }, held: 0, vacuumBytes: 0, archiveFiles: [], ms: 0 });
    const pass = this.runPass(reason).finally(() => {
      this.pass = null;
    });
    this.pass = pass;
    return pass;
  }

  /**
   * For the disk budget, when it is reached: a pass (retention on) or only a vacuum (off), and a
   * checkpoint so the file and its WAL shrink now. Resolves with the bytes the vacuum gave back.
   */
  async relieve(): Promise<number> {
    const result = await this.runNow('the disk budget was reached');
    return result.vacuumBytes;
  }

  private scheduleNext(ms: number): void {
    if (this.stopping || !this.enabled) return;
    if (this.timer) clearTimeout(this.timer);
    this.st.nextPruneAt = new Date(this.now() + ms).toISOString();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runNow('scheduled')
        .catch(() => undefined) // said by runPass
        .finally(() => this.scheduleNext(this.opts.intervalMs));
    }, ms);
    this.timer.unref();
  }

  private async runPass(reason: string): Promise<PassResult> {
    const t0 = performance.now();
    const counts: RetentionCounts = { ...NO_PRUNE };
    const archiveFiles: string[] = [];
    const slice = new Slice(() => this.verdicts);
    let held = 0;
    let vacuumBytes = 0;
    if (this.enabled) this.st.state = 'pruning';
    try {
      if (this.enabled) {
        const cutoff = this.now() - (this.opts.retentionMs as number);
        const batchRuns = this.opts.batchRuns ?? DEFAULT_BATCH_RUNS;
        if (this.opts.archiveDir) this.prepareArchive(this.opts.archiveDir);
        const passAt = this.now();
        let cursor = 0;
        for (;;) {
          const scan = this.rows.scan(cutoff, cursor, batchRuns);
          cursor = scan.cursor;
          held += scan.held;
          let rest = scan.runIds;
          if (rest.length > 0 && this.opts.archiveDir) {
            const file = await this.writeArchive(this.opts.archiveDir, passAt, this.rows.read(rest));
            slice.restart(); // the archive's write was a turn of the event loop for the line
            archiveFiles.push(file);
            this.st.lastArchiveFile = path.basename(file);
          }
          while (rest.length > 0 && !this.stopping) {
            if (slice.spent()) await slice.yield();
            const { counts: deleted, processed } = this.rows.delete(rest, cutoff, slice.deadline, slice.minRuns);
            slice.count(processed);
            rest = rest.slice(processed);
            Object.assign(counts, addCounts(counts, deleted));
            this.st.prunedSinceStart = addCounts(this.st.prunedSinceStart, deleted);
          }
          if (scan.done || this.stopping) break;
          if (slice.spent()) await slice.yield();
        }
        const batches = this.rows.deleteEmptyBatches(cutoff);
        counts.batches += batches;
        this.st.prunedSinceStart.batches += batches;
      }
      vacuumBytes = await this.vacuum(slice);
    } catch (err) {
      const message = (err as Error).message;
      this.st.state = this.enabled ? 'failing' : 'off';
      this.st.lastError = message;
      this.log.error({ err, reason, runsPruned: counts.runs }, 'retention pass failed; nothing of the batch under way was deleted');
      if (!this.alarmRaised) {
        this.alarmRaised = true;
        this.bus.emit('alarm.raised', { alarmId: ALARM_ID, severity: 'warning', message: `retention failed: ${message}`, slot: null });
      }
      throw err;
    }
    const ms = Math.round(performance.now() - t0);
    this.st.state = this.enabled ? 'idle' : 'off';
    this.st.lastError = null;
    this.st.lastPruneAt = new Date(this.now()).toISOString();
    this.st.lastPruned = counts;
    this.st.heldUndelivered = this.enabled ? held : null;
    this.st.lastVacuumBytes = vacuumBytes;
    if (this.alarmRaised) {
      this.alarmRaised = false;
      this.bus.emit('alarm.cleared', { alarmId: ALARM_ID });
    }
    const said = { reason, ...counts, held, vacuumMb: Math.round(vacuumBytes / 104857.6) / 10, archiveFiles: archiveFiles.length, ms };
    if (counts.runs > 0 || vacuumBytes > 0) this.log.info(said, 'retention pass: history pruned');
    else this.log.debug(said, 'retention pass: nothing to prune');
    return { counts, held, vacuumBytes, archiveFiles, ms };
  }

  /**
   * Gives every free page back (incremental vacuum, a bounded step at a time with the event loop
   * served between), then checkpoints so the file itself shrinks. Returns the bytes given back.
   */
  private async vacuum(slice: Slice): Promise<number> {
    if (!this.rows.canShrink()) return 0;
    const step = this.opts.vacuumStepPages ?? DEFAULT_VACUUM_STEP_PAGES;
    let pages = 0;
    while (!this.stopping && this.rows.freePages() > 0) {
      if (slice.spent()) await slice.yield();
      const moved = this.rows.vacuum(step);
      if (moved === 0) break;
      pages += moved;
    }
    if (pages > 0) this.store.checkpoint();
    return pages * this.rows.pageSize();
  }

  /** The archive folder exists; temporary files a crash left there (never linked into place, their
   *  runs never deleted) are removed once. */
  private prepareArchive(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (this.partialsCleared) return;
    for (const name of readdirSync(dir)) if (name.endsWith('.partial')) unlinkSync(path.join(dir, name));
    this.partialsCleared = true;
  }

  /**
   * Writes the runs as one gzip NDJSON file (a line per run, with every row that goes with it) and
   * makes it durable before returning: temporary name, fsync, link into place (never over another
   * file), folder fsync. Returns the file's path.
   */
  private async writeArchive(dir: string, passAt: number, runs: RunRows[]): Promise<string> {
    const text = runs.map((r) => JSON.stringify({ v: 1, runId: r.run.run_id, ...r })).join('\n') + '\n';
    const body = await gzipAsync(text);
    const stamp = new Date(passAt).toISOString().replace(/[-:]/g, '').replace('.', '');
    const tmp = path.join(dir, `.${randomBytes(6).toString('hex')}.partial`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      for (;;) {
        const file = path.join(dir, `${this.opts.stationId}-runs-${stamp}-${String(++this.archiveSeq).padStart(5, '0')}.ndjson.gz`);
        try {
          await link(tmp, file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw err;
        }
        const d = await open(dir, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
        return file;
      }
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
}
