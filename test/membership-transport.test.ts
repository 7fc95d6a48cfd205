// The membership transport's push-pull deadlines (agent/membership/transport.ts): a
// seed answering many joins at once answers late, and a join's push-pull must wait
// for it where an ordinary anti-entropy push-pull gives up.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startLocalNodes, stopNodes } from '../agent/net/local-cluster.js'
import { startTransport, type MembershipTransport } from '../agent/membership/transport.js'
import { pushPullMessage } from '../protocol/membership/push-pull.js'
import type { MembershipMessage } from '../protocol/membership/index.js'

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

test('a join push-pull waits joinSyncTimeoutMs for a slow seed; other push-pulls fail at syncTimeoutMs, with the message handed to onSendFailed', async () => {
  const nodes = await startLocalNodes(2, 'memory')
  const transports: MembershipTransport[] = []
  try {
    const [seed, joiner] = nodes
    const answerDelayMs = 900
    transports.push(await startTransport({
      node: seed,
      deliver: () => {},
      // The seed's core answers only after a while (a seed busy with a herd of joins).
      answer: async (_from, msg) => {
        await sleep(answerDelayMs)
        return msg.type === 'push-pull' ? pushPullMessage(msg.seq, false, true, []) : undefined
      }
    }))
    const delivered: MembershipMessage[] = []
    const failures: Array<{ channel: string, type: string, join: boolean }> = []
    transports.push(await startTransport({
      node: joiner,
      deliver: (_from, msg) => { delivered.push(msg) },
      syncTimeoutMs: 300,
      joinSyncTimeoutMs: 5000,
      onSendFailed: (_to, channel, _err, msg) => { failures.push({ channel, type: msg.type, join: msg.type === 'push-pull' && msg.join }) }
    }))
    const to = seed.peerId.toString()
    const addrs = seed.getMultiaddrs().map(a => a.toString())

    const started = Date.now()
    const joined = await transports[1].send({ to, addrs, msg: pushPullMessage(1, true, false, []) })
    assert.ok(joined, 'the join push-pull outlasts the ordinary deadline')
    assert.ok(Date.now() - started >= answerDelayMs - 50, 'it did wait for the late answer')
    assert.equal(delivered.map(m => m.type === 'push-pull' && m.reply), [true], 'the seed\'s reply was delivered')
    assert.equal(failures, [])

    const ordinary = await transports[1].send({ to, addrs, msg: pushPullMessage(2, false, false, []) })
    assert.is(ordinary, false, 'an anti-entropy push-pull gives up at syncTimeoutMs')
    assert.equal(failures, [{ channel: 'sync', type: 'push-pull', join: false }])
    assert.is(transports[1].stats.sendFailures.sync, 1)
  } finally {
    await Promise.allSettled(transports.map(async t => { await t.stop() }))
    await stopNodes(nodes)
  }
})

test.run()
