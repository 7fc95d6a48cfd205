import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger, formatRecord, type LogRecord } from '../agent/log.js'

const fixed = (): Date => new Date('2026-01-02T03:04:05.000Z')

test('json lines carry time, level, msg and fields; errors keep message and code', () => {
  const lines: string[] = []
  const log = createLogger({ level: 'info', format: 'json', write: l => lines.push(l), now: fixed })
  const err = Object.assign(new Error('boom'), { code: 'ERR_X' })
  log.child({ component: 'socket' }).warn('failed', { err, n: 3 })
  assert.equal(JSON.parse(lines[0]), { time: '2026-01-02T03:04:05.000Z', level: 'warn', msg: 'failed', component: 'socket', err: { message: 'boom', code: 'ERR_X' }, n: 3 })
})

test('records below the level are not written, but subscribers at a lower level still get them', () => {
  const lines: string[] = []
  const seen: LogRecord[] = []
  const log = createLogger({ level: 'warn', format: 'json', write: l => lines.push(l), now: fixed })
  log.debug('quiet')
  assert.is(lines.length, 0)
  const unsubscribe = log.subscribe('debug', r => seen.push(r))
  log.debug('now seen')
  log.error('loud')
  unsubscribe()
  log.error('after unsubscribe')
  assert.equal(seen.map(r => r.msg), ['now seen', 'loud'])
  assert.equal(lines.map(l => (JSON.parse(l) as LogRecord).msg), ['loud', 'after unsubscribe'])
})

test('a throwing subscriber is dropped and logging carries on', () => {
  const log = createLogger({ level: 'info', format: 'json', write: () => {}, now: fixed })
  let calls = 0
  log.subscribe('info', () => { calls++; throw new Error('gone') })
  log.info('a')
  log.info('b')
  assert.is(calls, 1)
})

test('logfmt quotes values with spaces, quotes or equals signs', () => {
  const line = formatRecord({ time: 't', level: 'info', msg: 'hello world', path: '/a/b', q: 'say "hi"', eq: 'a=b', list: [1, 2] }, 'logfmt')
  assert.is(line, 'time=t level=info msg="hello world" path=/a/b q="say \\"hi\\"" eq="a=b" list=[1,2]')
})

test.run()
