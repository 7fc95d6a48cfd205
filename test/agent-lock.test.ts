import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync, utimesSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { acquireLock, LockHeldError, readProcessStart } from '../agent/lock.js'
import { makeTempDir, cleanupAgents } from './helpers/agent-process.js'

test.after(async () => { await cleanupAgents() })

async function lockPath (): Promise<string> {
  return join(await makeTempDir(), 'agent.lock')
}

async function refused (path: string): Promise<LockHeldError> {
  try {
    await acquireLock(path)
  } catch (err) {
    assert.instance(err, LockHeldError)
    return err as LockHeldError
  }
  throw new Error('lock was granted twice')
}

test('the lock is exclusive while held and free again after release', async () => {
  const path = await lockPath()
  const { lock, replacedStale } = await acquireLock(path)
  assert.is(replacedStale, undefined)
  assert.is(statSync(path).mode & 0o777, 0o600)
  const err = await refused(path)
  assert.is(err.holderPid, process.pid)
  assert.is(err.code, 'ERR_LOCKED')
  await lock.release()
  assert.not.ok(existsSync(path))
  const again = await acquireLock(path)
  await again.lock.release()
})

test('a lock held by a dead pid is stale and taken over', async () => {
  const path = await lockPath()
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  writeFileSync(path, JSON.stringify({ pid: Number(dead.stdout), boot: null, start: null, since: 'then' }))
  const { lock, replacedStale } = await acquireLock(path)
  assert.match(replacedStale ?? '', /not running/)
  assert.is((JSON.parse(readFileSync(path, 'utf8')) as { pid: number }).pid, process.pid)
  await lock.release()
})

test('a live pid with another start time (pid reuse) is stale; with the same start time it holds', async () => {
  const start = readProcessStart(process.pid)
  if (start === null) return // no /proc: only the pid check applies
  const path = await lockPath()
  writeFileSync(path, JSON.stringify({ pid: process.pid, boot: null, start: String(Number(start) + 1), since: 'then' }))
  const { lock, replacedStale } = await acquireLock(path)
  assert.match(replacedStale ?? '', /another process/)
  await lock.release()
  writeFileSync(path, JSON.stringify({ pid: process.pid, boot: null, start, since: 'then' }))
  await refused(path)
})

test('an unreadable lock is left alone while young and replaced once old', async () => {
  const path = await lockPath()
  writeFileSync(path, '')
  await refused(path)
  const old = (Date.now() - 60_000) / 1000
  utimesSync(path, old, old)
  const { lock, replacedStale } = await acquireLock(path)
  assert.match(replacedStale ?? '', /unreadable/)
  await lock.release()
})

test('release does not remove a lock that someone else now holds', async () => {
  const path = await lockPath()
  const { lock } = await acquireLock(path)
  writeFileSync(path, JSON.stringify({ pid: 1, boot: null, start: null, since: 'other' }))
  await lock.release()
  assert.ok(existsSync(path))
})

test.run()
