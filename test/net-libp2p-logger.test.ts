// libp2p gets a do-nothing logger unless DEBUG is set (agent/net/libp2p-logger.ts):
// making its debug loggers cost CPU on every connection and stream for output that
// was never printed. With DEBUG, an operator's trace must still come out.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { libp2pLogger, silentLogger } from '../agent/net/libp2p-logger.js'

test('the silent logger is disabled at every scope and accepts every call', () => {
  const log = silentLogger().forComponent('libp2p:test')
  assert.is(log.enabled, false)
  log('a %s', 'message')
  log.error('an error', new Error('x'))
  log.trace('a trace')
  const scoped = log.newScope('connection').newScope('stream')
  assert.is(scoped.enabled, false)
  scoped('still nothing')
})

test('without DEBUG libp2p gets the silent logger; with DEBUG its own', () => {
  assert.is(libp2pLogger({}).forComponent('libp2p:a').enabled, false)
  assert.is(libp2pLogger({ DEBUG: '' }).forComponent('libp2p:a').enabled, false)
  // The silent logger hands out one shared instance; libp2p's makes one per component.
  const silent = libp2pLogger({})
  assert.is(silent.forComponent('a'), silent.forComponent('b'))
  const real = libp2pLogger({ DEBUG: 'libp2p:*' })
  assert.is.not(real.forComponent('a'), real.forComponent('b'))
})

// Two real nodes connect in a child process; its stderr shows whether libp2p traced.
const script = `
import '${fileURLToPath(new URL('../agent/polyfill.js', import.meta.url))}'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode } from '${fileURLToPath(new URL('../agent/net/create-node.js', import.meta.url))}'
const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
await a.dial(b.getMultiaddrs()[0])
await a.stop(); await b.stop()
console.log('connected')
`

function runNodes (env: NodeJS.ProcessEnv): { stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 20_000, cwd: fileURLToPath(new URL('..', import.meta.url)) })
  return { stdout: r.stdout, stderr: r.stderr }
}

test('a real connection prints no libp2p trace without DEBUG, and does with DEBUG=libp2p:*', () => {
  const { DEBUG: _unset, ...base } = process.env
  const quiet = runNodes(base)
  assert.match(quiet.stdout, /connected/)
  assert.not.match(quiet.stderr, /libp2p:/)
  const traced = runNodes({ ...base, DEBUG: 'libp2p:*' })
  assert.match(traced.stdout, /connected/)
  assert.match(traced.stderr, /libp2p:(connection|dialer|transports|tcp|upgrader)/)
})

test.run()
