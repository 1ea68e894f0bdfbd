import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { KreproError } from '../../../errors.js';

/**
 * Feeds a tar stream to `onEntry` one member at a time. Every member must be consumed by `onEntry` (tar-stream stalls
 * otherwise); errors from the source, the parser or `onEntry` all end here, and the source is destroyed so its
 * socket is released (dockerode#728).
 */
export async function readTar(source: Readable, signal: AbortSignal | undefined, onEntry: (header: tar.Header, entry: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  const sink = extract as unknown as NodeJS.WritableStream;
  const feeding = (signal ? pipeline(source, sink, { signal }) : pipeline(source, sink)).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const entry of extract) await onEntry(entry.header, entry as unknown as Readable);
    const err = await feeding;
    if (err !== undefined) throw err;
  } catch (err) {
    signal?.throwIfAborted();
    // When the source failed (the engine went away), that is the cause of whatever failed downstream of it.
    source.destroy();
    const fed = await feeding;
    const cause = fed instanceof KreproError ? fed : err;
    throw cause instanceof KreproError ? cause : new KreproError('E_IO', `reading a tar stream from the engine failed: ${(cause as Error).message}`, { cause });
  } finally {
    source.destroy();
    extract.destroy();
  }
}

export async function drain(entry: Readable): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
