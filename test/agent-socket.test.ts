import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createConnection } from 'node:net'
import { startAgent, cleanupAgents, type AgentProcess } from './helpers/agent-process.js'
import { streamAgent, callAgent, AgentCommandError } from '../agent/socket/client.js'
import { CommandRegistry } from '../agent/socket/registry.js'
import { CommandError } from '../agent/socket/protocol.js'

let agent: AgentProcess

test.before(async () => { agent = await startAgent() })
test.after(async () => { await cleanupAgents() })

type Line = { ok: boolean, result?: unknown, error?: { code: string, message: string }, event?: unknown, end?: boolean }

/** Writes `payload` on a fresh connection and collects `count` response lines (5 s bound). */
async function exchange (payload: string | Buffer, count: number): Promise<Line[]> {
  return await new Promise((resolve, reject) => {
    const sock = createConnection(agent.socketPath)
    const lines: Line[] = []
    let buf = ''
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`got ${lines.length}/${count} lines in 5 s: ${JSON.stringify(lines)}`)) }, 5_000)
    sock.setEncoding('utf8')
    sock.on('data', (chunk: string) => {
      buf += chunk
      let nl: number
      while ((nl = buf.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Line)
        buf = buf.slice(nl + 1)
      }
      if (lines.length >= count) { clearTimeout(timer); sock.destroy(); resolve(lines) }
    })
    sock.on('error', err => { clearTimeout(timer); reject(err) })
    sock.write(payload)
  })
}

async function stillAnswers (): Promise<void> {
  const s = await agent.query('status') as { state: string }
  assert.is(s.state, 'syncing') // no cluster map was bootstrapped
}

test('malformed JSON and malformed requests get error lines on the same connection', async () => {
  const lines = await exchange('{not json\n[1,2]\n{"args":{}}\n{"cmd":"status","extra":1}\n{"cmd":"status"}\n', 5)
  assert.is(lines[0].error?.code, 'ERR_MALFORMED_REQUEST')
  assert.match(lines[0].error?.message ?? '', /not valid JSON/)
  assert.is(lines[1].error?.code, 'ERR_MALFORMED_REQUEST')
  assert.is(lines[2].error?.code, 'ERR_MALFORMED_REQUEST')
  assert.is(lines[3].error?.code, 'ERR_MALFORMED_REQUEST')
  assert.is(lines[4].ok, true, 'the connection still works after errors')
  await stillAnswers()
})

test('unknown commands and wrong argument types are refused before any handler runs', async () => {
  const lines = await exchange([
    JSON.stringify({ cmd: 'no-such-command' }),
    JSON.stringify({ cmd: 'logs', args: { level: 5 } }),
    JSON.stringify({ cmd: 'status', args: { bogus: true } }),
    JSON.stringify({ cmd: 'status', args: [] })
  ].join('\n') + '\n', 4)
  assert.is(lines[0].error?.code, 'ERR_UNKNOWN_COMMAND')
  assert.is(lines[1].error?.code, 'ERR_BAD_ARGS')
  assert.match(lines[1].error?.message ?? '', /"level" must be string/)
  assert.is(lines[2].error?.code, 'ERR_BAD_ARGS')
  assert.is(lines[3].error?.code, 'ERR_MALFORMED_REQUEST')
  try {
    await callAgent(agent.socketPath, 'logs', { level: 'loud' })
    assert.unreachable('bad level value accepted')
  } catch (err) {
    assert.instance(err, AgentCommandError)
    assert.is((err as AgentCommandError).code, 'ERR_BAD_ARGS')
  }
  await stillAnswers()
})

test('requests over 64 KiB get ERR_REQUEST_TOO_LARGE, with or without a newline, and the next line is served', async () => {
  const big = JSON.stringify({ cmd: 'status', args: { pad: 'x'.repeat(70 * 1024) } })
  // Sent in several chunks so the limit is hit while buffering, then a good request.
  const lines = await exchange(big + '\n' + JSON.stringify({ cmd: 'status' }) + '\n', 2)
  assert.is(lines[0].error?.code, 'ERR_REQUEST_TOO_LARGE')
  assert.is(lines[1].ok, true)
  // Exactly at the limit is still parsed (and then refused for its unknown argument).
  const atLimit = JSON.stringify({ cmd: 'status', args: { p: '' } })
  const padded = atLimit.replace('"p":""', `"p":"${'y'.repeat(64 * 1024 - atLimit.length)}"`)
  assert.is(Buffer.byteLength(padded), 64 * 1024)
  const [edge] = await exchange(padded + '\n', 1)
  assert.is(edge.error?.code, 'ERR_BAD_ARGS')
  // An endless line without a newline is answered once the limit is crossed.
  const [noNewline] = await exchange(Buffer.alloc(100 * 1024, 0x61), 1)
  assert.is(noNewline.error?.code, 'ERR_REQUEST_TOO_LARGE')
  await stillAnswers()
})

test('pipelined requests are answered in order; help lists commands with typed arguments', async () => {
  const lines = await exchange(['help', 'status', 'help'].map(cmd => JSON.stringify({ cmd })).join('\n') + '\n', 3)
  assert.ok(Array.isArray(lines[0].result))
  assert.is((lines[1].result as { state: string }).state, 'syncing')
  const help = lines[2].result as Array<{ name: string, stream: boolean, args: Array<{ name: string, type: string }> }>
  const logs = help.find(c => c.name === 'logs')
  assert.ok(logs?.stream)
  assert.equal(logs?.args.map(a => [a.name, a.type]), [['level', 'string']])
  assert.ok(help.some(c => c.name === 'status'))
})

test('a streaming command keeps the connection open and emits one object per line', async () => {
  const stop = new AbortController()
  const events: Array<Record<string, unknown>> = []
  const streaming = streamAgent(agent.socketPath, 'logs', { level: 'debug' }, ev => {
    events.push(ev as Record<string, unknown>)
    if (events.length >= 2) stop.abort()
  }, { signal: stop.signal })
  // Every served request is logged at debug level, so status calls feed the stream.
  const deadline = Date.now() + 5_000
  while (events.length < 2 && Date.now() < deadline) {
    await callAgent(agent.socketPath, 'status')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  stop.abort()
  await streaming
  assert.ok(events.length >= 2, `got ${events.length} log events`)
  assert.type(events[0].msg, 'string')
  assert.type(events[0].level, 'string')
  await stillAnswers()
})

test('the registry checks every declared type and required arguments', () => {
  const registry = new CommandRegistry()
  registry.register({
    name: 'typed',
    summary: 'all types',
    args: {
      s: { type: 'string', required: true, description: '' },
      n: { type: 'number', description: '' },
      i: { type: 'integer', description: '' },
      b: { type: 'boolean', description: '' },
      l: { type: 'string[]', description: '' }
    },
    handler: (args) => args.s
  })
  const code = (args: Record<string, unknown>): string | undefined => {
    try { registry.resolve('typed', args); return undefined } catch (err) { return (err as CommandError).code }
  }
  assert.is(code({ s: 'x', n: 1.5, i: 2, b: false, l: ['a'] }), undefined)
  assert.is(code({}), 'ERR_BAD_ARGS')
  assert.is(code({ s: 'x', n: 'NaN' }), 'ERR_BAD_ARGS')
  assert.is(code({ s: 'x', i: 1.5 }), 'ERR_BAD_ARGS')
  assert.is(code({ s: 'x', b: 'true' }), 'ERR_BAD_ARGS')
  assert.is(code({ s: 'x', l: ['a', 1] }), 'ERR_BAD_ARGS')
  assert.throws(() => { registry.register({ name: 'typed', summary: '', args: {}, handler: () => null }) }, /already registered/)
  assert.throws(() => { registry.register({ name: 'Bad Name', summary: '', args: {}, handler: () => null }) }, /bad command name/)
})

test.run()
