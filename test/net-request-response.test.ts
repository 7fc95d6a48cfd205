import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lpStream } from '@libp2p/utils'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { serveRequestResponse, sendRequest, protocolId } from '../agent/net/request-response.js'
import { HandlerError, ProtocolError } from '../agent/net/errors.js'
import type { RingleaderNode } from '../agent/net/create-node.js'

const PROTO = protocolId('echo-test')

async function expectProtocolError (p: Promise<unknown>, code: string, remoteCode?: string): Promise<ProtocolError> {
  try {
    await p
  } catch (err) {
    assert.instance(err, ProtocolError, `expected ProtocolError, got ${String(err)}`)
    const e = err as ProtocolError
    assert.is(e.code, code, e.message)
    if (remoteCode !== undefined) assert.is(e.remoteCode, remoteCode)
    return e
  }
  assert.unreachable(`expected ProtocolError ${code}, got success`)
  throw new Error('unreachable')
}

async function pair (): Promise<RingleaderNode[]> {
  return await startLocalNodes(2, 'memory')
}

test('round trip carries the request and the sender id', async () => {
  const [server, client] = await pair()
  try {
    let seenFrom = ''
    await serveRequestResponse(server, PROTO, async (req, from) => {
      seenFrom = from.toString()
      return new Uint8Array([...req].reverse())
    })
    const res = await sendRequest(client, server.getMultiaddrs()[0], PROTO, new Uint8Array([1, 2, 3]))
    assert.equal([...res], [3, 2, 1])
    assert.is(seenFrom, client.peerId.toString())
    // A second request on the now-open connection, dialled by PeerId.
    const res2 = await sendRequest(client, server.peerId, PROTO, new Uint8Array(0))
    assert.is(res2.byteLength, 0)
  } finally { await stopNodes([server, client]) }
})

test('handler error becomes a typed remote error, and the server keeps serving', async () => {
  const [server, client] = await pair()
  try {
    const srv = await serveRequestResponse(server, PROTO, async (req) => {
      if (req[0] === 1) throw new HandlerError('not-coordinator', 'ask someone else')
      if (req[0] === 2) throw new Error('boom')
      return req
    })
    const addr = server.getMultiaddrs()[0]
    const e = await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array([1])), 'remote-error', 'not-coordinator')
    assert.match(e.message, 'ask someone else')
    await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array([2])), 'remote-error', 'handler-failed')
    assert.equal([...await sendRequest(client, addr, PROTO, new Uint8Array([7]))], [7])
    assert.is(srv.stats.handlerErrors, 2)
  } finally { await stopNodes([server, client]) }
})

test('oversize request and oversize response are rejected with typed errors', async () => {
  const [server, client] = await pair()
  try {
    const srv = await serveRequestResponse(server, PROTO, async (req) => new Uint8Array(req[0] === 9 ? 2000 : 10), { maxRequestBytes: 100, maxResponseBytes: 1000 })
    const addr = server.getMultiaddrs()[0]
    // Client-side check refuses before sending.
    await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array(200), { maxRequestBytes: 100 }), 'oversize')
    // A client with a larger limit sends it; the server refuses and says why.
    await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array(200), { maxRequestBytes: 1000 }), 'remote-error', 'request-too-large')
    assert.is(srv.stats.oversize, 1)
    // The handler's answer is too big for the server's own limit.
    await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array([9])), 'remote-error', 'response-too-large')
    // The client's response limit is enforced too.
    await expectProtocolError(sendRequest(client, addr, PROTO, new Uint8Array([0]), { maxResponseBytes: 5 }), 'oversize')
    assert.is((await sendRequest(client, addr, PROTO, new Uint8Array([0]))).byteLength, 10)
  } finally { await stopNodes([server, client]) }
})

test('a slow handler gives the client a timeout error', async () => {
  const [server, client] = await pair()
  try {
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    await serveRequestResponse(server, PROTO, async (req) => { await gate; return req })
    const started = Date.now()
    await expectProtocolError(sendRequest(client, server.getMultiaddrs()[0], PROTO, new Uint8Array([1]), { timeoutMs: 200 }), 'timeout')
    assert.ok(Date.now() - started < 2000)
    release()
    // A caller abort is reported as aborted, not timeout.
    const ac = new AbortController()
    ac.abort()
    await expectProtocolError(sendRequest(client, server.getMultiaddrs()[0], PROTO, new Uint8Array([1]), { signal: ac.signal }), 'aborted')
  } finally { await stopNodes([server, client]) }
})

test('garbage frames are rejected and counted; the server keeps serving', async () => {
  const [server, client] = await pair()
  try {
    const srv = await serveRequestResponse(server, PROTO, async (req) => req, { maxRequestBytes: 1000 })
    const addr = server.getMultiaddrs()[0]
    // A varint that never ends (lpStream keeps reading it until EOF: counted as eof).
    const s1 = await client.dialProtocol(addr, PROTO)
    s1.send(new Uint8Array(12).fill(0xff))
    await s1.close()
    // A length prefix announcing more than the limit.
    const s2 = await client.dialProtocol(addr, PROTO)
    s2.send(new Uint8Array([0x80, 0x80, 0x04]))
    await s2.close().catch(() => {})
    // A frame cut short: announces 50 bytes, sends 3, closes.
    const s3 = await client.dialProtocol(addr, PROTO)
    s3.send(new Uint8Array([50, 1, 2, 3]))
    await s3.close().catch(() => {})
    const deadline = Date.now() + 3000
    while (srv.stats.oversize + srv.stats.badFrames + srv.stats.eof < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    assert.is(srv.stats.oversize, 1, JSON.stringify(srv.stats))
    assert.is(srv.stats.eof, 2, JSON.stringify(srv.stats))
    assert.is(srv.stats.served, 0)
    assert.equal([...await sendRequest(client, addr, PROTO, new Uint8Array([4, 5]))], [4, 5])
  } finally { await stopNodes([server, client]) }
})

test('a server replying with a bad status byte gives bad-frame on the client', async () => {
  const [server, client] = await pair()
  try {
    await server.handle(PROTO, (stream) => {
      const lp = lpStream(stream)
      void (async () => {
        await lp.read()
        await lp.write(new Uint8Array([7, 1, 2]))
        await stream.close()
      })().catch(() => {})
    })
    await expectProtocolError(sendRequest(client, server.getMultiaddrs()[0], PROTO, new Uint8Array([1])), 'bad-frame')
  } finally { await stopNodes([server, client]) }
})

test.run()
