// The human-readable status: what an operator reads first when a node lags.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { formatPending, formatStatus } from '../agent/cli/status.js'

test('a node behind shows what it waits for; a ready node shows no pending line', () => {
  const pending = { epoch: 8, hash: 'bafkreiabc', blobs: 5, verified: 2, sinceMs: 12_000 }
  assert.match(formatPending(pending), /^epoch 8: 2 of 5 blobs verified, for 12(\.0)? ?s/)
  const base = { nodeId: 'n', state: 'syncing', listen: [], uptimeMs: 1000, version: '0', pid: 1, dataDir: '/d' }
  const map = { state: 'syncing', epoch: 7, newestSeen: 8, membersByEpoch: { 7: 2, 8: 3 }, buildInFlight: false }
  const behind = formatStatus({ ...base, map: { ...map, pending } })
  assert.match(behind, /pending\s+epoch 8: 2 of 5 blobs verified/)
  assert.match(behind, /7 installed, newest seen 8/)
  assert.not.match(formatStatus({ ...base, map }), /pending/)
})

test('memory is one line: rss, heap used of total, buffers', () => {
  const base = { nodeId: 'n', state: 'ready', listen: [], uptimeMs: 1000, version: '0', pid: 1, dataDir: '/d' }
  const out = formatStatus({ ...base, memory: { rssMb: 73.1, heapUsedMb: 21.5, heapTotalMb: 30, externalMb: 4.2, arrayBuffersMb: 2.1 } })
  assert.match(out, /memory\s+rss 73.1 MB, heap 21.5 of 30 MB, buffers 2.1 MB/)
})

test.run()
