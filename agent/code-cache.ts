// The V8 code cache shipped beside the packaged agent (dist/agent-code.cache).
//
// Every function an agent runs is compiled on its first call; in a fresh agent that
// is the whole join path (noise, yamux, identify, gossipsub, our protocols), so a
// join pays for compiling it on every node at once. V8 can serialize what a process
// has compiled and take it back at the next start (vm.Script `cachedData`). The
// package step runs a short training cluster and keeps one agent's compiled code
// (code-cache-training.ts); the bundle loader (bundle-loader.ts) hands it to V8.
//
// V8 checks its own version and flags, but of the source only its length, and in a
// release build it does not checksum the payload: bytecode from another build of the
// same length, or a flipped bit, would be run as is. So the file is sealed here with
// the SHA-256 of the code it belongs to and of its payload, and opened only when
// both match.
import { createHash } from 'node:crypto'

/** File layout: magic (8) | format version u32 BE | sha256(code) (32) | sha256(payload) (32) | payload length u32 BE | payload. */
const MAGIC = Buffer.from('RLCCACHE', 'latin1')
const FORMAT_VERSION = 1
const HEADER_BYTES = MAGIC.byteLength + 4 + 32 + 32 + 4
/** Far above a real cache (~2 MB): a larger file is not ours. */
export const MAX_CODE_CACHE_BYTES = 64 * 1024 * 1024

/** How the running agent's code was compiled, as `agent status` reports it. */
export type CodeCacheState =
  | { state: 'accepted', bytes: number }
  /** V8 refused it: another node version or other V8 flags than the package was trained with. */
  | { state: 'rejected', bytes: number }
  | { state: 'absent' }
  /** The file is damaged or belongs to another build; not handed to V8. */
  | { state: 'invalid', reason: string }

export class CodeCacheError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CodeCacheError'
  }
}

function sha256 (data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

/** The cache file for `payload` (V8's cachedData), bound to the exact `code` it was made from. */
export function sealCodeCache (code: Uint8Array, payload: Uint8Array): Buffer {
  if (payload.byteLength === 0) throw new CodeCacheError('empty code cache')
  if (HEADER_BYTES + payload.byteLength > MAX_CODE_CACHE_BYTES) throw new CodeCacheError(`code cache of ${payload.byteLength} bytes exceeds ${MAX_CODE_CACHE_BYTES}`)
  const header = Buffer.alloc(HEADER_BYTES)
  let at = MAGIC.copy(header, 0)
  at = header.writeUInt32BE(FORMAT_VERSION, at)
  at += sha256(code).copy(header, at)
  at += sha256(payload).copy(header, at)
  header.writeUInt32BE(payload.byteLength, at)
  return Buffer.concat([header, payload])
}

/** The payload of a sealed cache file, or why it must not be used with `code`. */
export function openCodeCache (code: Uint8Array, file: Uint8Array): { payload: Buffer } | { reason: string } {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (bytes.byteLength < HEADER_BYTES) return { reason: `${bytes.byteLength} bytes, shorter than the header` }
  if (bytes.byteLength > MAX_CODE_CACHE_BYTES) return { reason: `${bytes.byteLength} bytes, more than ${MAX_CODE_CACHE_BYTES}` }
  if (!bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)) return { reason: 'not a code cache file' }
  let at = MAGIC.byteLength
  const version = bytes.readUInt32BE(at); at += 4
  if (version !== FORMAT_VERSION) return { reason: `format version ${version}, expected ${FORMAT_VERSION}` }
  const codeDigest = bytes.subarray(at, at + 32); at += 32
  const payloadDigest = bytes.subarray(at, at + 32); at += 32
  const length = bytes.readUInt32BE(at); at += 4
  if (length !== bytes.byteLength - HEADER_BYTES) return { reason: `payload length ${length}, but ${bytes.byteLength - HEADER_BYTES} bytes follow the header` }
  if (!sha256(code).equals(codeDigest)) return { reason: 'made for another build of the agent code' }
  const payload = bytes.subarray(at)
  if (!sha256(payload).equals(payloadDigest)) return { reason: 'payload checksum mismatch' }
  return { payload }
}

/** Where the bundle loader leaves its CodeCacheState for the agent to report. */
export const CODE_CACHE_STATE_KEY = Symbol.for('ringleader.codeCache')

/** The loader's report, or undefined when the agent was not started by it (e.g. from build/). */
export function loadedCodeCache (): CodeCacheState | undefined {
  return (globalThis as Record<symbol, CodeCacheState | undefined>)[CODE_CACHE_STATE_KEY]
}
