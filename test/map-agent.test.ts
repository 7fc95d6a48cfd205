// The cluster map with real agent processes on 127.0.0.1: bootstrap, a joining
// node, the hook, coordinator failure, a restarted node catching up, a minority
// that must not publish, kill -9 during installs, and bootstrap refusal. One
// cluster is shared by the tests in order; every wait is bounded.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeRingGz } from '../ring/format.js'
import { cidString } from '../ring/address.js'
import { runCli, waitFor, cleanupAgents } from './helpers/agent-process.js'
import { allReadyAt, aliveCount, hookEpochs, REBALANCE_DELAY_MS, sha256File, startMapNode, statusOf, tempFiles, type ClusterNode } from './helpers/map-cluster.js'
import { swiftOrSkip } from './helpers/swift.js'

const RINGS = ['object:8:3:0', 'account:6:3:0']
const nodes: ClusterNode[] = []
let epoch = 0

test.after(async () => { await cleanupAgents() })

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const alive = (): ClusterNode[] => nodes.filter(n => n.child.exitCode === null && n.child.signalCode === null)

test('five nodes: bootstrap makes epoch 1; every node installs byte-identical rings that Swift reads', async () => {
  const seed = await startMapNode(0)
  nodes.push(seed)
  nodes.push(...await Promise.all([1, 2, 3, 4].map(async i => await startMapNode(i, { seed: seed.addr }))))
  await aliveCount(nodes, 5)
  for (const n of nodes) assert.is((await statusOf(n)).state, 'syncing', 'no map before bootstrap')

  // Any node may bootstrap; node 2 does.
  const boot = await runCli(['bootstrap', '--data-dir', nodes[2].dataDir, ...RINGS.flatMap(r => ['--ring', r])])
  assert.is(boot.code, 0, boot.stderr)
  assert.match(boot.stdout, /epoch 1/)
  const got = await allReadyAt(nodes, 1)
  assert.is(got.epoch, 1)
  epoch = 1

  for (const name of ['object', 'account']) {
    const hashes = nodes.map(n => sha256File(join(n.ringDir, `${name}.ring.gz`)))
    assert.is(new Set(hashes).size, 1, `${name}.ring.gz identical everywhere`)
  }
  const ring = decodeRingGz(readFileSync(join(nodes[0].ringDir, 'object.ring.gz')))
  assert.is(ring.devs.filter(d => d != null).length, 10, 'every device of every member')
  for (const n of nodes) assert.equal(hookEpochs(n), [1], `hook ran once on node ${n.index}`)

  // The operator's view of the same thing through the CLI.
  const wait = await runCli(['wait', '--ready', '--epoch', '1', '--timeout', '10', '--data-dir', nodes[4].dataDir])
  assert.is(wait.code, 0, wait.stderr)
  assert.match(wait.stdout, /ready at epoch 1/)
  const tooFar = await runCli(['wait', '--ready', '--epoch', '99', '--timeout', '1', '--data-dir', nodes[4].dataDir])
  assert.is(tooFar.code, 1)
  assert.match(tooFar.stderr, /TIMEOUT/)
  assert.is((await runCli(['wait', '--data-dir', nodes[4].dataDir])).code, 2, 'wait needs --ready')
  assert.is((await runCli(['bootstrap', '--ring', 'object:99:3', '--data-dir', nodes[4].dataDir])).code, 2, 'a bad ring spec is a usage error')
  const show = await runCli(['ring', 'show', 'object', '--json', '--data-dir', nodes[1].dataDir])
  assert.is(show.code, 0, show.stderr)
  const shown = JSON.parse(show.stdout) as { epoch: number, partPower: number, devices: unknown[] }
  assert.equal([shown.epoch, shown.partPower, shown.devices.length], [1, 8, 10])
  const missing = await runCli(['ring', 'show', 'nosuchring', '--data-dir', nodes[1].dataDir])
  assert.is(missing.code, 1)
  assert.match(missing.stderr, /no ring "nosuchring"/)

  const swift = swiftOrSkip()
  if (swift !== undefined) {
    const loaded = swift.call({ op: 'load', path: join(nodes[3].ringDir, 'object.ring.gz') }) as { part_shift: number, replica_count: number, devs: unknown[] }
    assert.is(loaded.part_shift, 32 - 8)
    assert.is(loaded.replica_count, 3)
    assert.is(loaded.devs.length, 10)
  }
})

test('a sixth node joins: exactly one new epoch after the debounce, installed everywhere, hook ran with it', async () => {
  const newcomer = await startMapNode(5, { seed: nodes[1].addr })
  nodes.push(newcomer)
  const got = await allReadyAt(nodes, 2)
  assert.is(got.epoch, 2)
  // Quiet for several debounce windows: no further epoch.
  await sleep(6 * REBALANCE_DELAY_MS)
  for (const n of nodes) {
    const s = await statusOf(n)
    assert.is(s.map.epoch, 2, `node ${n.index} still at epoch 2`)
    assert.equal(s.map.membersByEpoch, { 2: 6 })
  }
  for (const n of nodes.slice(0, 5)) assert.equal(hookEpochs(n), [1, 2], `hook on node ${n.index}`)
  assert.is(hookEpochs(newcomer).at(-1), 2)
  const ring = decodeRingGz(readFileSync(join(newcomer.ringDir, 'object.ring.gz')))
  assert.is(ring.devs.filter(d => d != null).length, 12)
  epoch = 2
})

test('kill -9 of the coordinator: the next-lowest id takes over and the next change makes an epoch all survivors install', async () => {
  const coordinator = (await statusOf(nodes[0])).map.coordinator as string
  assert.is(coordinator, [...nodes.map(n => n.id)].sort()[0], 'the lowest id coordinates')
  const victim = nodes.find(n => n.id === coordinator) as ClusterNode
  await victim.stop('SIGKILL')
  const survivors = alive()
  assert.is(survivors.length, 5)
  const next = survivors.map(n => n.id).sort()[0]
  await waitFor('survivors mark the coordinator dead and follow the next-lowest id', async () => {
    const all = await Promise.all(survivors.map(statusOf))
    return all.every(s => s.members.dead === 1 && s.map.coordinator === next)
  }, 15_000, 100)
  // A death alone changes no device (they stay for --remove-dead-after): no epoch.
  assert.is((await statusOf(survivors[0])).map.epoch, epoch)

  const changer = survivors[survivors.length - 1]
  const add = await runCli(['device', 'add', 'sdz:50', '--data-dir', changer.dataDir])
  assert.is(add.code, 0, add.stderr)
  const got = await allReadyAt(survivors, epoch + 1)
  assert.is(got.epoch, epoch + 1)
  const map = await runCli(['map', '--json', '--data-dir', survivors[0].dataDir])
  assert.is((JSON.parse(map.stdout) as { map: { coordinator: string } }).map.coordinator, next)
  epoch = got.epoch
})

test('a restarted node and a late joiner both catch up to the newest epoch', async () => {
  const survivors = alive()
  const restarted = survivors.find(n => n.id !== (survivors.map(x => x.id).sort()[0])) as ClusterNode
  await restarted.stop('SIGTERM')
  const others = alive()
  // Two changes while it is away.
  for (const [i, dev] of [['sdx', '40'], ['sdy', '60']].entries()) {
    const r = await runCli(['device', 'add', `${dev[0]}:${dev[1]}`, '--data-dir', others[i].dataDir])
    assert.is(r.code, 0, r.stderr)
    epoch = (await allReadyAt(others, epoch + 1)).epoch
  }
  const back = await startMapNode(restarted.index, { dataDir: restarted.dataDir, seed: others[0].addr })
  nodes[nodes.indexOf(restarted)] = back
  const late = await startMapNode(6, { seed: others[1].addr })
  nodes.push(late)
  // Each of them is a device change (a new member, a returning one's identical devices
  // change nothing): wait for whatever epoch the cluster settles on.
  const got = await allReadyAt(alive(), epoch)
  assert.ok(got.epoch >= epoch)
  assert.is(sha256File(join(back.ringDir, 'object.ring.gz')), sha256File(join(others[0].ringDir, 'object.ring.gz')))
  assert.is(sha256File(join(late.ringDir, 'object.ring.gz')), sha256File(join(others[0].ringDir, 'object.ring.gz')))
  epoch = got.epoch
})

test('bootstrap on a populated cluster is refused and changes nothing', async () => {
  const before = await statusOf(alive()[0])
  const r = await runCli(['bootstrap', '--data-dir', alive()[1].dataDir])
  assert.is(r.code, 1)
  assert.match(r.stderr, /BOOTSTRAP_REFUSED/)
  // A new node started with --bootstrap that joins this cluster refuses too.
  const eager = await startMapNode(7, { seed: alive()[0].addr, args: ['--bootstrap'] })
  nodes.push(eager)
  const report = await waitFor('the eager node reports its refused bootstrap', async () => {
    const s = await statusOf(eager)
    return s.bootstrap != null && s.bootstrap.state !== 'waiting' && s.bootstrap.state !== 'running' ? s.bootstrap : undefined
  }, 20_000, 100)
  assert.is(report.state, 'refused', JSON.stringify(report))
  // The newcomer is a new member with devices: the map moves on, chained onto the old one.
  const got = await allReadyAt(alive(), before.map.epoch + 1)
  const map = JSON.parse((await runCli(['map', '--json', '--data-dir', eager.dataDir])).stdout) as { map: { epoch: number, prev: string | null } }
  assert.ok(map.map.epoch >= got.epoch, 'the eager node holds the cluster\'s map')
  assert.ok(map.map.prev !== null, 'not a second epoch 1')
  epoch = map.map.epoch
})

test('a minority (majority frozen) never publishes; after healing every node converges on one map', async () => {
  epoch = (await allReadyAt(alive(), epoch)).epoch // settled before the freeze
  const live = alive()
  // Freeze a strict majority of the map's members; the rest are a minority.
  const mapMembers = (JSON.parse((await runCli(['map', '--json', '--data-dir', live[0].dataDir])).stdout) as { map: { members: number } }).map.members
  const frozen = live.slice(0, Math.floor(mapMembers / 2) + 1)
  const minority = live.filter(n => !frozen.includes(n))
  assert.ok(minority.length >= 1 && minority.length < mapMembers / 2)
  for (const n of frozen) n.child.kill('SIGSTOP')
  try {
    await waitFor('the minority sees the frozen nodes as failed', async () => {
      const all = await Promise.all(minority.map(statusOf))
      return all.every(s => (s.members.alive ?? 0) === minority.length)
    }, 20_000, 100)
    const change = await runCli(['device', 'add', 'sdq:70', '--data-dir', minority[0].dataDir])
    assert.is(change.code, 0, change.stderr)
    await sleep(8 * REBALANCE_DELAY_MS)
    for (const n of minority) assert.is((await statusOf(n)).map.epoch, epoch, 'the minority published nothing')
  } finally {
    for (const n of frozen) n.child.kill('SIGCONT')
  }
  // Healed: the coordinator sees the device change and publishes; everyone converges.
  const got = await allReadyAt(alive(), epoch + 1, 40_000)
  assert.ok(got.epoch > epoch)
  const hashes = await Promise.all(alive().map(async n => (await statusOf(n)).map.mapHash))
  assert.is(new Set(hashes).size, 1)
  epoch = got.epoch
})

test('kill -9 during fetches and installs leaves no partial ring and no unverified blob; the node recovers', async () => {
  const live = alive()
  const victim = live[live.length - 1]
  const changer = live[0]
  // Bigger rings, so the kill lands while blobs stream in or files are written.
  const set = await runCli(['ring', 'set', 'container', '--part-power', '14', '--replicas', '3', '--min-part-hours', '0', '--data-dir', changer.dataDir])
  assert.is(set.code, 0, set.stderr)
  epoch = (await allReadyAt(alive(), epoch + 1, 30_000)).epoch
  let current = victim
  for (const [i, delayMs] of [5, 40, 120].entries()) {
    const r = await runCli(['device', 'set', 'sdb', String(100 + 10 * (i + 1)), '--data-dir', changer.dataDir])
    assert.is(r.code, 0, r.stderr)
    await sleep(REBALANCE_DELAY_MS + delayMs)
    await current.stop('SIGKILL')
    // Every ring file present is whole; every blob present hashes to its name.
    for (const f of readdirSync(current.ringDir).filter(f => f.endsWith('.ring.gz'))) {
      assert.not.throws(() => decodeRingGz(readFileSync(join(current.ringDir, f))), `${f} is a whole ring`)
    }
    const blobDir = join(current.dataDir, 'blobs')
    for (const f of readdirSync(blobDir).filter(f => !f.startsWith('.') && f.startsWith('b'))) {
      assert.is(cidString(readFileSync(join(blobDir, f))), f, `blob ${f} verified`)
    }
    const deadPid = current.pid
    const restarted = await startMapNode(current.index, { dataDir: current.dataDir, seed: changer.addr })
    nodes[nodes.indexOf(current)] = restarted
    current = restarted
    // Temp names carry the writer's pid: the new process may already be fetching, but nothing of the dead one is left.
    const ofDead = (dir: string): string[] => tempFiles(dir).filter(f => f.includes(`.tmp-${deadPid}-`))
    assert.equal(ofDead(join(current.dataDir, 'blobs')), [], 'temp blobs of the killed process removed at start')
    assert.equal(ofDead(current.ringDir), [], 'temp ring files of the killed process removed at start')
    epoch = (await allReadyAt(alive(), epoch + 1, 30_000)).epoch
    assert.equal(tempFiles(current.ringDir), [], 'no temp ring files after catching up')
    assert.is(sha256File(join(current.ringDir, 'container.ring.gz')), sha256File(join(changer.ringDir, 'container.ring.gz')))
  }
})

test.run()
