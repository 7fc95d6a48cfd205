import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CodeCacheError, MAX_CODE_CACHE_BYTES, openCodeCache, sealCodeCache } from '../agent/code-cache.js'
import { readCodeCache } from '../agent/bundle-loader.js'

const code = Buffer.from('(function (exports, require, module, __filename, __dirname) {console.log(1)\n})')
const payload = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff))

function reasonOf (r: ReturnType<typeof openCodeCache>): string {
  return 'reason' in r ? r.reason : '(opened)'
}

test('a sealed cache opens to its payload for the code it was made from', () => {
  const opened = openCodeCache(code, sealCodeCache(code, payload))
  assert.ok('payload' in opened, reasonOf(opened))
  assert.ok(opened.payload.equals(payload))
})

test('a cache is refused for other code, even of the same length (V8 itself checks only the length)', () => {
  const other = Buffer.from(code)
  other[other.length - 5] ^= 0x01
  assert.is(other.length, code.length)
  assert.match(reasonOf(openCodeCache(other, sealCodeCache(code, payload))), /another build/)
})

test('a flipped payload bit, a truncated file, a foreign file and a wrong length are refused', () => {
  const sealed = sealCodeCache(code, payload)
  const flipped = Buffer.from(sealed)
  flipped[flipped.length - 100] ^= 0x40
  assert.match(reasonOf(openCodeCache(code, flipped)), /checksum/)
  assert.match(reasonOf(openCodeCache(code, sealed.subarray(0, sealed.length - 1))), /payload length/)
  assert.match(reasonOf(openCodeCache(code, sealed.subarray(0, 20))), /shorter than the header/)
  assert.match(reasonOf(openCodeCache(code, Buffer.concat([sealed, Buffer.from([0])]))), /payload length/)
  const foreign = Buffer.from(sealed)
  foreign.write('NOTOURS!', 0, 'latin1')
  assert.match(reasonOf(openCodeCache(code, foreign)), /not a code cache/)
  const newer = Buffer.from(sealed)
  newer.writeUInt32BE(2, 8)
  assert.match(reasonOf(openCodeCache(code, newer)), /format version 2/)
  assert.match(reasonOf(openCodeCache(code, Buffer.alloc(0))), /shorter than the header/)
})

test('sealing refuses an empty or oversized payload', () => {
  assert.throws(() => sealCodeCache(code, Buffer.alloc(0)), (err: unknown) => err instanceof CodeCacheError)
  assert.throws(() => sealCodeCache(code, Buffer.alloc(MAX_CODE_CACHE_BYTES)), (err: unknown) => err instanceof CodeCacheError && /exceeds/.test(err.message))
})

test('the loader reads a cache file as accepted, absent or invalid (before V8 sees it)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rl-cc-'))
  try {
    const path = join(dir, 'agent-code.cache')
    assert.equal(readCodeCache(path, code).state, { state: 'absent' })
    await writeFile(path, sealCodeCache(code, payload))
    const read = readCodeCache(path, code)
    assert.equal(read.state, { state: 'accepted', bytes: payload.length })
    assert.ok(read.cachedData?.equals(payload))
    await writeFile(path, 'garbage')
    const bad = readCodeCache(path, code)
    assert.is(bad.state.state, 'invalid')
    assert.is(bad.cachedData, undefined)
    // A directory, a named pipe (reading it would block the start) or a huge file
    // where the cache should be: reported, not read, not thrown.
    await rm(path)
    await mkdir(path)
    assert.equal(readCodeCache(path, code).state, { state: 'invalid', reason: 'not a regular file' })
    await rm(path, { recursive: true })
    execFileSync('mkfifo', [path])
    assert.equal(readCodeCache(path, code).state, { state: 'invalid', reason: 'not a regular file' })
    await rm(path)
    await truncate(await writeFile(path, '').then(() => path), MAX_CODE_CACHE_BYTES + 1)
    assert.equal(readCodeCache(path, code).state, { state: 'invalid', reason: `${MAX_CODE_CACHE_BYTES + 1} bytes, more than ${MAX_CODE_CACHE_BYTES}` })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
