// Watching the lines a station writes to a device, from the device's side of a cable: the test
// learns the moment a request arrives (and can act on it then: pull the cable, say).
import type { Readable } from 'node:stream';

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
