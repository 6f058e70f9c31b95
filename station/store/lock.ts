// One daemon per data folder. The lock file holds the owner's PID; a lock left by a process that
// no longer exists (kill -9, power loss) is taken over, a live one is refused with its PID named.
import { readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-file.js';

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
    sameProcess = false,
  ) {
    super(
      sameProcess
        ? `data folder ${dataDir} is already open in this process (pid ${ownerPid}); close that store first`
        : `data folder ${dataDir} is in use by another station daemon (pid ${ownerPid}); stop it first or use another data folder`,
    );
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files held by this process: a second Store here on the same folder is refused too. */
const heldHere = new Set<string>();

export class DataDirLock {
  private readonly file: string;
  private held = false;

  constructor(private readonly dataDir: string) {
    this.file = path.join(dataDir, 'station.lock');
  }

  acquire(): void {
    if (heldHere.has(this.file)) throw new DataDirLockedError(this.dataDir, process.pid, true);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // Whole or not at all (lib/atomic-file.ts): a power cut never leaves an empty lock file,
        // and the link into place fails if the lock exists (O_EXCL's guarantee). Mode 0600.
        writeFileAtomicSync(this.file, `${process.pid}\n`, { mode: 0o600, exclusive: true });
        this.held = true;
        heldHere.add(this.file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(this.file, 'utf8'), 10);
      } catch {
        continue; // removed between our open and read: try again
      }
      // Our own pid but not held here: a pid reused after a crash (pid 1 in a container), so stale.
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) throw new DataDirLockedError(this.dataDir, owner);
      try {
        unlinkSync(this.file); // stale: its owner is gone
      } catch {
        // another starter removed it first; the next attempt sorts it out
      }
    }
    throw new Error(`could not take the lock ${this.file} after 3 attempts`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    heldHere.delete(this.file);
    try {
      if (Number.parseInt(readFileSync(this.file, 'utf8'), 10) === process.pid) unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
