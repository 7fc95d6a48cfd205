import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import { encode as cborEncode } from 'cbor-x'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { BLOB_PROTOCOL, fetchRange, serveBlobs, type BlobSource } from '../agent/net/blob-protocol.js'
import { encodeOkFrame } from '../agent/net/request-response.js'
import { ProtocolError } from '../agent/net/errors.js'

const CID = 'bafkreitestblob0000000000000000000000000000000000000000000'

function memorySource (blobs: Map<string, Uint8Array>, gate?: (offset: number) => Promise<void>): BlobSource {
  return {
    has: (cid) => blobs.has(cid),
    size: (cid) => blobs.get(cid)?.byteLength ?? 0,
    readRange: async (cid, offset, length) => {
      await gate?.(offset)
      return blobs.get(cid)!.slice(offset, offset + length)
    }
  }
}

async function expectCode (p: Promise<unknown>, code: string): Promise<void> {
  try { await p } catch (err) {
    assert.instance(err, ProtocolError, String(err))
    assert.is((err as ProtocolError).code, code, (err as Error).message)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('ranges: whole blob, middle, tail, empty; errors for bad range and unknown blob', async () => {
  const [server, client] = await startLocalNodes(2, 'memory')
  try {
    const blob = randomBytes(1_000_000)
    const srv = await serveBlobs(server, memorySource(new Map([[CID, blob]])), { maxRangeBytes: 600_000 })
    const addr = server.getMultiaddrs()[0]
    const mid = await fetchRange(client, addr, CID, 123_457, 500_001)
    assert.ok(Buffer.from(mid).equals(blob.subarray(123_457, 623_458)))
    const tail = await fetchRange(client, addr, CID, 999_990, 10, undefined, { expectedSize: 1_000_000 })
    assert.ok(Buffer.from(tail).equals(blob.subarray(999_990)))
    assert.is((await fetchRange(client, addr, CID, 5, 0)).byteLength, 0)
    await expectCode(fetchRange(client, addr, CID, 999_990, 11), 'bad-range')
    await expectCode(fetchRange(client, addr, CID, 0, 600_001), 'bad-range')
    await expectCode(fetchRange(client, addr, CID.replace('test', 'none'), 0, 1), 'not-found')
    await expectCode(fetchRange(client, addr, CID, 0, 10, undefined, { expectedSize: 5 }), 'bad-length')
    assert.equal({ served: srv.stats.served, notFound: srv.stats.notFound, badRange: srv.stats.badRange }, { served: 4, notFound: 1, badRange: 2 })
  } finally { await stopNodes([server, client]) }
})

test('busy above the upload limit; a peer that dies mid-transfer gives eof', async () => {
  const [server, client] = await startLocalNodes(2, 'memory')
  try {
    const blob = randomBytes(2_000_000)
    let release: () => void = () => {}
    const held = new Promise<void>(resolve => { release = resolve })
    let secondPieceRequested = false
    // The first 256 KiB piece flows, the next one blocks: the transfer stalls midway.
    const srv = await serveBlobs(server, memorySource(new Map([[CID, blob]]), async (offset) => {
      if (offset > 0) { secondPieceRequested = true; await held }
    }), { maxConcurrentUploads: 1 })
    const addr = server.getMultiaddrs()[0]
    const first = fetchRange(client, addr, CID, 0, 2_000_000)
    const deadline = Date.now() + 3000
    while (!secondPieceRequested && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.ok(secondPieceRequested)
    assert.is(srv.active, 1)
    await expectCode(fetchRange(client, addr, CID, 0, 10), 'busy')
    assert.is(srv.stats.busy, 1)
    const outcome = first.then(() => 'ok', (err: unknown) => err)
    await server.stop()
    release()
    const err = await outcome
    assert.instance(err, ProtocolError)
    assert.is((err as ProtocolError).code, 'eof', (err as Error).message)
  } finally { await stopNodes([server, client]) }
})

test('a peer sending more or fewer bytes than announced, or a garbage header, is an error', async () => {
  const [server, client] = await startLocalNodes(2, 'memory')
  try {
    let mode = 'more'
    await server.handle(BLOB_PROTOCOL, (stream) => {
      const lp = lpStream(stream)
      void (async () => {
        await lp.read()
        if (mode === 'garbage') {
          await lp.write(encodeOkFrame(new Uint8Array([0xff, 0xfe, 0x00])))
        } else if (mode === 'wrong-length') {
          await lp.write(encodeOkFrame(cborEncode({ size: 100, length: 50 })))
        } else {
          await lp.write(encodeOkFrame(cborEncode({ size: 100, length: 10 })))
          await lp.write(new Uint8Array(mode === 'more' ? 15 : 5))
        }
        await stream.close()
      })().catch(() => {})
    })
    const addr = server.getMultiaddrs()[0]
    await expectCode(fetchRange(client, addr, CID, 0, 10), 'bad-length')
    mode = 'less'
    await expectCode(fetchRange(client, addr, CID, 0, 10), 'eof')
    mode = 'garbage'
    await expectCode(fetchRange(client, addr, CID, 0, 10), 'bad-frame')
    mode = 'wrong-length'
    await expectCode(fetchRange(client, addr, CID, 0, 10), 'bad-length')
  } finally { await stopNodes([server, client]) }
})

test('a malformed request is answered with bad-request and counted', async () => {
  const [server, client] = await startLocalNodes(2, 'memory')
  try {
    const srv = await serveBlobs(server, memorySource(new Map()))
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], BLOB_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(cborEncode({ cid: '../etc/passwd', offset: -1, length: 'x' }))
    await stream.close()
    const reply = (await lp.read({ signal: AbortSignal.timeout(3000) })).subarray()
    assert.is(reply[0], 1)
    assert.match(new TextDecoder().decode(reply.subarray(1)), /^bad-request\n/)
    assert.is(srv.stats.badRequests, 1)
  } finally { await stopNodes([server, client]) }
})

test('upload slots: a peer beyond maxUploadPeers gets busy until the slot holder is done', async () => {
  const [server, a, b] = await startLocalNodes(3, 'memory')
  try {
    const blob = randomBytes(600_000)
    let release: () => void = () => {}
    const held = new Promise<void>(resolve => { release = resolve })
    let stalled = false
    const srv = await serveBlobs(server, memorySource(new Map([[CID, blob]]), async (offset) => {
      if (offset > 0 && !stalled) { stalled = true; await held }
    }), { maxUploadPeers: 1, slotLingerMs: 20 })
    const addr = server.getMultiaddrs()[0]
    const first = fetchRange(a, addr, CID, 0, 600_000)
    const deadline = Date.now() + 3000
    while (!stalled && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.ok(stalled)
    await expectCode(fetchRange(b, addr, CID, 0, 10), 'busy')
    // A zero-length size probe needs no slot.
    assert.is((await fetchRange(b, addr, CID, 0, 0, undefined, { expectedSize: 600_000 })).byteLength, 0)
    // The slot holder itself may open more streams.
    assert.is((await fetchRange(a, addr, CID, 0, 10)).byteLength, 10)
    release()
    assert.ok(Buffer.from(await first).equals(blob))
    // Linger over (the whole blob was sent anyway): b gets in.
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.is((await fetchRange(b, addr, CID, 0, 10)).byteLength, 10)
    assert.is(srv.stats.busy, 1)
  } finally { await stopNodes([server, a, b]) }
})

test.run()
