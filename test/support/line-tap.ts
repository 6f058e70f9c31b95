// Watching the lines a station writes to a device, from the device's side of a cable: the test
// learns the moment a request arrives (and can act on it then: pull the cable, say).
import type { Readable, Writable } from 'node:stream';

/**
 * Calls `onLine` with each LF-terminated line (latin1, without the LF) that arrives on `stream`,
 * synchronously as its chunk arrives. Other readers of the stream (a pipe to a parser) are not
 * disturbed. Returns a function that stops watching.
 */
export function tapLines(stream: Readable, onLine: (line: string) => void): () => void {
  let partial = '';
  const onData = (chunk: Buffer): void => {
    const lines = (partial + chunk.toString('latin1')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  };
  stream.on('data', onData);
  return () => stream.off('data', onData);
}

/**
 * Makes `stream` report each of its writes once it has completed (its bytes are on the wire), with
 * the lines it carried, to `onWritten`: a test can act the instant a device's answer is out.
 */
export function watchWrites(stream: Writable, onWritten: (lines: string[]) => void): void {
  const write = stream.write.bind(stream) as (chunk: unknown, encoding: BufferEncoding | undefined, cb: (err?: Error | null) => void) => boolean;
  stream.write = ((chunk: unknown, encodingOrCb?: unknown, cb?: unknown) => {
    const done = (typeof encodingOrCb === 'function' ? encodingOrCb : cb) as ((err?: Error | null) => void) | undefined;
    const text = Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk);
    const lines = text.split('\n').filter((l) => l !== '');
    return write(chunk, typeof encodingOrCb === 'string' ? (encodingOrCb as BufferEncoding) : undefined, (err) => {
      if (!err) onWritten(lines);
      done?.(err);
    });
  }) as typeof stream.write;
}
