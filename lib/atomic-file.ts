// Files a program cannot live without, written so that a crash or a power cut at any moment leaves
// either the old file or the new one whole, never a short or empty one: the bytes go to a
// temporary name in the same folder, are fsynced, then the name is moved into place (rename, or
// link when the file must not exist yet), and the folder is fsynced so the new name itself
// survives a power cut. A temporary file left by a crash is named `.<name>.<pid>.<random>.tmp`.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm, link } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** The new file's permission bits (default 0600: only its owner reads it). */
  mode?: number;
  /** Fail with EEXIST when the file exists already (link instead of rename): a lock, a key made once. */
  exclusive?: boolean;
}

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes `data` to `file` atomically and durably (see the header). Throws the fs error (its code: EEXIST, ENOSPC, EIO, ...). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const temp = tempNameFor(file);
  try {
    const fd = openSync(temp, 'wx', opts.mode ?? 0o600);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.exclusive) linkSync(temp, file);
    else renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true }); // after link: the second name; after a failure: the leftover
  }
  syncFolderSync(path.dirname(file));
}

/** The same, without blocking the event loop (a label image, say). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const temp = tempNameFor(file);
  try {
    const handle = await open(temp, 'wx', opts.mode ?? 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (opts.exclusive) await link(temp, file);
    else await rename(temp, file);
  } finally {
    await rm(temp, { force: true });
  }
  await syncFolder(path.dirname(file));
}

/** Fsyncs a folder: a file created, renamed or deleted in it is durable only then. No-op on Windows. */
export function syncFolderSync(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
