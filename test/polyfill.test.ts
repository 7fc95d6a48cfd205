import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

test('Promise.withResolvers exists and settles its promise', async () => {
  const { promise, resolve } = (Promise as unknown as { withResolvers: <T>() => { promise: Promise<T>, resolve: (v: T) => void } }).withResolvers<number>()
  resolve(42)
  assert.is(await promise, 42)
})

test('libp2p loads and starts after the polyfill', async () => {
  const { createLibp2p } = await import('libp2p')
  const node = await createLibp2p({})
  await node.start()
  assert.ok(node.peerId.toString().length > 40)
  await node.stop()
})

test.run()
