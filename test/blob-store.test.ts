import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BlobError, BlobStore } from '../agent/blob-store.js'
import { blobCid } from '../protocol/map/blob-cid.js'

const dirs: string[] = []
async function freshDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-blob-'))
  dirs.push(dir)
  return dir
}

async function rejectsWith (p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p
  } catch (err) {
    assert.instance(err, BlobError)
    assert.is((err as BlobError).code, code)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('put/get/has/size/readRange/list round-trip', async () => {
  const store = await BlobStore.open(await freshDir())
  const bytes = randomBytes(100_000)
  const cid = await store.put(bytes)
  assert.is(cid, blobCid(bytes))
  assert.ok(await store.has(cid))
  assert.is(await store.size(cid), bytes.length)
  assert.ok(Buffer.from(await store.get(cid)).equals(bytes))
  assert.ok(Buffer.from(await store.readRange(cid, 5000, 300)).equals(bytes.subarray(5000, 5300)))
  assert.equal(await store.list(), [cid])
  assert.is(await store.put(bytes, cid), cid) // idempotent
  await rejectsWith(store.readRange(cid, bytes.length - 10, 11), 'BLOB_RANGE')
  await rejectsWith(store.get(blobCid(Buffer.from('absent'))), 'BLOB_NOT_FOUND')
  await rejectsWith(store.get('../../etc/passwd'), 'BLOB_BAD_CID')
  assert.not.ok(await store.has('../x'))
})

test('wrong expected hash is rejected and nothing is stored', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const expected = blobCid(Buffer.from('the real thing'))
  await rejectsWith(store.put(Buffer.from('an impostor'), expected), 'BLOB_HASH_MISMATCH')
  assert.equal(await store.list(), [])
  assert.equal(await readdir(join(dir, 'blobs')), [])
})

test('concurrent puts of the same blob are safe', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const bytes = randomBytes(200_000)
  const cids = await Promise.all(Array.from({ length: 8 }, async () => await store.put(bytes)))
  assert.ok(cids.every(c => c === cids[0]))
  assert.equal(await readdir(join(dir, 'blobs')), [cids[0]])
  assert.ok(Buffer.from(await store.get(cids[0])).equals(bytes))
})

test('partial writer assembles ranges out of order, with overlaps, and commits', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const bytes = randomBytes(1_000_003)
  const cid = blobCid(bytes)
  const partial = await store.beginPartial(cid, bytes.length)
  const chunk = 65_536
  const starts: number[] = []
  for (let at = 0; at < bytes.length; at += chunk) starts.push(at)
  starts.reverse()
  const [first, ...rest] = starts
  await partial.write(first, bytes.subarray(first, first + chunk))
  assert.not.ok(await store.has(cid)) // nothing visible before commit
  await rejectsWith(partial.commit(), 'BLOB_INCOMPLETE')
  assert.is(partial.missing().length, 1)
  await Promise.all(rest.map(async at => { await partial.write(at, bytes.subarray(at, Math.min(at + chunk, bytes.length))) }))
  await partial.write(1000, bytes.subarray(1000, 200_000)) // overlapping rewrite
  assert.ok(partial.complete)
  await rejectsWith(partial.write(bytes.length - 1, Buffer.alloc(2)), 'BLOB_RANGE')
  assert.is(await partial.commit(), cid)
  assert.ok(Buffer.from(await store.get(cid)).equals(bytes))
  assert.equal(await readdir(join(dir, 'blobs')), [cid])
})

test('a corrupted range makes commit fail and leaves nothing visible', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const bytes = randomBytes(300_000)
  const cid = blobCid(bytes)
  const partial = await store.beginPartial(cid, bytes.length)
  const bad = Buffer.from(bytes.subarray(100_000, 200_000))
  bad[500] ^= 0xff
  await partial.write(0, bytes.subarray(0, 100_000))
  await partial.write(100_000, bad)
  await partial.write(200_000, bytes.subarray(200_000))
  await rejectsWith(partial.commit(), 'BLOB_HASH_MISMATCH')
  assert.not.ok(await store.has(cid))
  assert.equal(await readdir(join(dir, 'blobs')), [])
  await rejectsWith(partial.write(0, bytes.subarray(0, 10)), 'BLOB_CLOSED')
})

test('crash leftovers: temp files removed and a rotten blob dropped at reopen', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const good = await store.put(Buffer.from('good blob'))
  const rotten = await store.put(Buffer.from('this one will rot'))
  await writeFile(join(dir, 'blobs', `.${blobCid(Buffer.from('never finished'))}.tmp-998-cafe`), Buffer.alloc(1000)) // a partial whose writer died
  await writeFile(join(dir, 'blobs', `.${good}.tmp-999-deadbeef`), 'half a write')
  await writeFile(join(dir, 'blobs', rotten), 'bit rot')
  const reopened = await BlobStore.open(dir)
  assert.is(reopened.openReport.removedTemp.length, 2)
  assert.equal(reopened.openReport.removedCorrupt, [rotten])
  assert.equal(await readdir(join(dir, 'blobs')), [good])
})

test('get() re-verifies: a blob that rots after open is removed and reported', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const cid = await store.put(Buffer.from('fine for now'))
  await writeFile(join(dir, 'blobs', cid), 'not fine')
  await rejectsWith(store.get(cid), 'BLOB_CORRUPT')
  assert.not.ok(await store.has(cid))
})

test('put repairs a damaged copy of the same blob', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir)
  const bytes = Buffer.from('the full content of a blob')
  const cid = await store.put(bytes)
  await writeFile(join(dir, 'blobs', cid), bytes.subarray(0, 5)) // truncated by a bad disk
  assert.is(await store.put(bytes), cid)
  assert.ok(Buffer.from(await store.get(cid)).equals(bytes))
})

test('gc keeps the last K retained epochs and the keep set, removes the rest and stale temps', async () => {
  const dir = await freshDir()
  const store = await BlobStore.open(dir, { keepEpochs: 2 })
  const cids: string[] = []
  for (let e = 1; e <= 4; e++) {
    const cid = await store.put(Buffer.from(`ring of epoch ${e}`))
    cids.push(cid)
    await store.retain(e, [cid, cids[0]]) // epoch 1's blob stays referenced by every epoch
  }
  const loose = await store.put(Buffer.from('unpinned'))
  const wanted = await store.put(Buffer.from('kept by caller'))
  const live = await store.beginPartial(blobCid(Buffer.from('in flight')), 10)
  await writeFile(join(dir, 'blobs', `.${loose}.tmp-1-00`), 'stale')
  assert.equal(store.retainedEpochs(), [3, 4])
  const report = await store.gc(new Set([wanted]))
  assert.equal(report.removedBlobs.sort(), [cids[1], loose].sort())
  assert.equal(report.removedTemp, [`.${loose}.tmp-1-00`])
  assert.equal((await store.list()).sort(), [cids[0], cids[2], cids[3], wanted].sort())
  await live.abort()
  // pins survive a restart
  const reopened = await BlobStore.open(dir, { keepEpochs: 2 })
  assert.equal(reopened.retainedEpochs(), [3, 4])
  const again = await reopened.gc()
  assert.equal(again.removedBlobs, [wanted])
  assert.ok(JSON.parse(await readFile(join(dir, 'blob-pins.json'), 'utf8')).epochs['4'].includes(cids[3]))
})

test('a corrupt pin index is a clear error, not silent loss', async () => {
  const dir = await freshDir()
  await BlobStore.open(dir)
  await writeFile(join(dir, 'blob-pins.json'), '{"version":1,"epochs":{"3":["nope"]}}')
  await rejectsWith(BlobStore.open(dir), 'BLOB_INDEX_CORRUPT')
})

test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

test.run()
