/** The entry points: parse the first bytes of a connection at once, or as they arrive. */
import { DEFAULT_MAX_HEADER_BYTES, V1_MAX_BYTES, V1_MIN_BYTES, V2_MAX_BYTES } from './constants.js';
import { headerError, HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';
import type { ProxyParseDone, ProxyParseOptions, ProxyParseResult } from './types.js';
import { parseV1 } from './v1.js';
import { parseV2 } from './v2.js';

/** The `maxHeaderBytes` an options object asks for, checked, or its default. */
export function maxHeaderBytesOf(options: ProxyParseOptions | undefined): number {
  const max = options?.maxHeaderBytes;
  if (max === undefined) return DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isInteger(max) || max < V1_MAX_BYTES || max > V2_MAX_BYTES) {
    throw new HandoffProxyProtocolError(ProxyProtocolErrorCode.OPTIONS, `maxHeaderBytes must be an integer from ${V1_MAX_BYTES} to ${V2_MAX_BYTES}, got ${String(max)}`);
  }
  return max;
}

function parseWith(bytes: Uint8Array, max: number): ProxyParseResult {
  if (bytes.length === 0) return { status: 'incomplete', needed: V1_MIN_BYTES };
  const first = bytes[0];
  if (first === 0x0d) return parseV2(bytes, max);
  if (first === 0x50) return parseV1(bytes);
  return { status: 'error', error: headerError(ProxyProtocolErrorCode.SIGNATURE, 'the connection did not start with a PROXY protocol header') };
}

/**
 * Parses a PROXY protocol header (v1 or v2) at the start of `bytes`: `done` with the header and the
 * offset where the payload starts, `incomplete` with a lower bound on the bytes still missing, or
 * `error` with a {@link HandoffProxyProtocolError}. Never throws on any input; looks at no more
 * than `maxHeaderBytes` bytes (107 for v1), so its work is bounded whatever follows.
 *
 * @throws {HandoffProxyProtocolError} only for invalid `options` (`maxHeaderBytes` out of range).
 */
export function parseProxyHeader(bytes: Uint8Array, options?: ProxyParseOptions): ProxyParseResult {
  return parseWith(bytes, maxHeaderBytesOf(options));
}

/** A finished incremental parse: the header, its length, and the payload bytes that came with it. */
export interface ProxyFeedDone extends ProxyParseDone {
  /** Bytes pushed after the header: the start of the payload, to hand on untouched. */
  readonly rest: Buffer;
  /** The header's own bytes, as received (a copy), e.g. to forward it. */
  readonly raw: Buffer;
}

/** What {@link ProxyHeaderParser.push} answers. */
export type ProxyFeedResult = Exclude<ProxyParseResult, ProxyParseDone> | ProxyFeedDone;

/** An incremental parser for one connection: push each chunk read until it is not `incomplete`. */
export interface ProxyHeaderParser {
  /**
   * Adds the next bytes read. Once the answer is `done` or `error`, the parser is finished and
   * answers the same again, whatever is pushed. Never throws.
   */
  push(chunk: Uint8Array): ProxyFeedResult;
  /** Bytes held while the header is incomplete: always below `maxHeaderBytes` (107 for v1). */
  readonly buffered: number;
}

/**
 * An incremental parser, fit for a socket reader: it keeps only the bytes of a header still
 * incomplete, so memory per connection stays below `maxHeaderBytes` however the bytes trickle in.
 *
 * @throws {HandoffProxyProtocolError} only for invalid `options` (`maxHeaderBytes` out of range).
 */
export function createProxyHeaderParser(options?: ProxyParseOptions): ProxyHeaderParser {
  const max = maxHeaderBytesOf(options);
  let held: Buffer | undefined;
  let final: ProxyFeedResult | undefined;
  return {
    get buffered() {
      return held?.length ?? 0;
    },
    push(chunk) {
      if (final !== undefined) return final;
      const bytes = held === undefined ? chunk : Buffer.concat([held, chunk]);
      const result = parseWith(bytes, max);
      if (result.status === 'incomplete') {
        // parseWith answers `incomplete` only below its bounds, so what is held stays small.
        held = bytes === chunk ? Buffer.from(chunk) : (bytes as Buffer);
        return result;
      }
      held = undefined;
      if (result.status === 'error') {
        final = result;
        return final;
      }
      const rest = Buffer.from(bytes.buffer, bytes.byteOffset + result.offset, bytes.byteLength - result.offset);
      const raw = Buffer.from(bytes.subarray(0, result.offset));
      final = { status: 'done', header: result.header, offset: result.offset, rest, raw };
      return final;
    },
  };
}
