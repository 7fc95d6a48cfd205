// Membership with real agent processes on loopback, side by side with Serf in the
// same run: join time, failure detection, idle RSS / CPU / bytes per agent, and
// false positives while both cores are loaded by busy loops. Prints JSON.
//
//   node build/bench/membership.js [--nodes 5,50] [--fp-seconds 60] [--idle-seconds 10] [--no-serf] [--entry dist/agent.mjs] [--join-gap-ms 0] [--join-mode herd|rolling|boot] [--settle-seconds 4] [--agent-args "--probe-interval 1000"]
//
// --entry runs another agent script under this node (default build/agent/cli.js),
// e.g. the esbuild bundle that `npm run package` writes, which needs ~20 MB less.
// Method (the same for both systems):
// - N agents start standalone, one after another, and are all up before anything
//   is measured.
// - join: every node but the seed is told to join the seed at once (ours through
//   the socket's `join` command, i.e. `agent join` without spawning 49 CLIs; Serf
//   through `serf join`), until every node has seen every other one alive. Event
//   times are taken as the events arrive here (our `monitor` streams, Serf's own
//   log lines), so both include the same local delivery delay. With --join-gap-ms
//   our joins are spread (a rolling start) and the time after the last join is
//   reported too. Failed joins are counted; a run that does not converge within
//   60 s reports `converged: false` and skips the rest. --join-mode rolling starts
//   each agent with `--join` the first once the previous one is up (a rolling
//   start), waits until every node counts N alive, then measures the rest.
//   --join-mode boot starts the first, then all the others at once with --join the
//   first (a whole cluster powering on): the time from spawning the seed until
//   every node counts N alive (verdicts are counted from when all answer `status`).
// - idle: after the join settles, CPU (utime+stime from /proc/<pid>/stat), RSS
//   (and its anonymous, unshared part) and bytes written (wchar from /proc/<pid>/io:
//   every socket write, encryption and muxing included) over --idle-seconds.
// - missingAlive (rolling, boot): [seconds, alive members the agents are short of in
//   total] from when all are up until they agree, at each change of that sum.
// - messagesWhileJoining: membership messages all agents sent from their start until
//   the join converged, by channel and by type (from each agent's status).
// - churn: the same bytes written, per agent, during the herd join and during the
//   failure detection below (joinBytes, detectBytes). wchar does not count UDP
//   (sendto), so for Serf these are its TCP writes only; one Serf agent's sends,
//   UDP included, are traced with strace after the idle window
//   (oneAgentSendBytesPerSecTraced).
// - detection: kill -9 the last node; until every survivor marks it failed.
// - false positives: 2 busy-loop processes load both cores for --fp-seconds;
//   counts fail verdicts (and, for us, suspicions) about live nodes.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SerfCluster, SERF_JOIN_TIMEOUT_MS, serfAvailable, readMemoryKb } from './lib/serf-cluster.js'
import { spawnBusyLoop } from './lib/children.js'
import { AgentCluster, cpuTicks, cpuTraceDuring, median, sleep, waitAllAlive } from './lib/agent-cluster.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5,50' },
    'fp-seconds': { type: 'string', default: '60' },
    'idle-seconds': { type: 'string', default: '10' },
    'no-serf': { type: 'boolean', default: false },
    entry: { type: 'string' },
    /** herd: all agents up, then told to join at once (or --join-gap-ms apart); rolling: each started with --join; boot: all but the seed started at once with --join. */
    'join-mode': { type: 'string', default: 'herd' },
    /** Our nodes join the seed this many ms apart (0: all at once). Serf always joins at once. */
    'join-gap-ms': { type: 'string', default: '0' },
    /** Extra `agent start` flags, e.g. "--probe-interval 1000". */
    'agent-args': { type: 'string', default: '' },
    /** Wait this long after convergence before the idle, detection and loaded figures (default 4: past the follow-ups). */
    'settle-seconds': { type: 'string', default: '4' }
  },
  strict: true
})
const sizes = values.nodes.split(',').map(Number)
const fpMs = Number(values['fp-seconds']) * 1000
const idleMs = Number(values['idle-seconds']) * 1000
const joinGapMs = Number(values['join-gap-ms'])
if (!(joinGapMs >= 0 && joinGapMs <= 10_000)) throw new Error('--join-gap-ms: 0..10000')
const settleWaitMs = Number(values['settle-seconds']) * 1000
if (!(settleWaitMs >= 0 && settleWaitMs <= 600_000)) throw new Error('--settle-seconds: 0..600')
const joinMode = values['join-mode']
if (joinMode !== 'herd' && joinMode !== 'rolling' && joinMode !== 'boot') throw new Error('--join-mode: herd, rolling or boot')
if (!sizes.every(n => Number.isInteger(n) && n >= 2 && n <= 100) || !(fpMs >= 0) || !(idleMs > 0)) {
  throw new Error('--nodes: integers 2..100, comma-separated; --fp-seconds >= 0; --idle-seconds > 0')
}
const CLI = resolve(values.entry ?? join(dirname(fileURLToPath(import.meta.url)), '../agent/cli.js'))
const TICKS_PER_SECOND = 100 // Linux USER_HZ

// ---------------------------------------------------------------- /proc helpers

function wcharBytes (pid: number): number {
  try {
    return Number(/wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN)
  } catch { return NaN }
}

interface IdleFigures { cpuPercentMedian: number, cpuPercentMax: number, rssMbMedian: number, rssMbMax: number, anonMbMedian: number, writeBytesPerSecMedian: number }

async function measureIdle (pids: number[], ms: number): Promise<IdleFigures> {
  const cpu0 = pids.map(cpuTicks)
  const io0 = pids.map(wcharBytes)
  await sleep(ms)
  const cpu = pids.map((p, i) => (cpuTicks(p) - cpu0[i]) / TICKS_PER_SECOND / (ms / 1000) * 100)
  const io = pids.map((p, i) => (wcharBytes(p) - io0[i]) / (ms / 1000))
  const memory = pids.map(readMemoryKb)
  const rss = memory.map(m => m.rssKb / 1024)
  return {
    cpuPercentMedian: round(median(cpu), 2),
    cpuPercentMax: round(Math.max(...cpu), 2),
    rssMbMedian: round(median(rss), 1),
    rssMbMax: round(Math.max(...rss), 1),
    // The part of RSS no other process shares (see readMemoryKb).
    anonMbMedian: round(median(memory.map(m => m.anonKb / 1024)), 1),
    writeBytesPerSecMedian: Math.round(median(io))
  }
}

/**
 * Bytes each process writes (wchar) while `work` runs: the churn figure. Median over
 * the processes alive at the end, total and per second of the window.
 */
async function bytesDuring<T> (pids: number[], work: () => Promise<T>): Promise<{ result: T, churnBytes: { perAgentMedian: number, perAgentPerSecMedian: number, seconds: number } }> {
  const before = pids.map(wcharBytes)
  const t0 = performance.now()
  const result = await work()
  const seconds = (performance.now() - t0) / 1000
  const written = pids.map((p, i) => wcharBytes(p) - before[i]).filter(b => Number.isFinite(b))
  const perAgent = median(written)
  return { result, churnBytes: { perAgentMedian: Math.round(perAgent), perAgentPerSecMedian: Math.round(perAgent / seconds), seconds: round(seconds, 2) } }
}

/**
 * Bytes one process sends over `seconds`, UDP included, traced with strace (null
 * without it). wchar counts write/writev only, so it sees Serf's TCP push-pulls but
 * not its UDP probes and gossip (sendto), which are nearly all its traffic.
 */
function tracedSendBytesPerSec (pid: number, seconds: number): number | null {
  const out = join(tmpdir(), `rl-strace-${pid}.txt`)
  const r = spawnSync('timeout', ['-s', 'INT', String(seconds), 'strace', '-f', '-qq', '-e', 'trace=sendto,sendmsg,write,writev', '-o', out, '-p', String(pid)])
  if (r.error !== undefined) return null
  let total = 0
  try {
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const m = /^\d+ +(?:sendto|sendmsg|write|writev)\(.*= (\d+)$/.exec(line)
      if (m !== null) total += Number(m[1])
    }
  } catch { return null } finally { rmSync(out, { force: true }) }
  return Math.round(total / seconds)
}

function startLoad (): ChildProcess[] {
  return [0, 1].map(() => spawnBusyLoop())
}

function stopLoad (load: ChildProcess[]): void {
  for (const p of load) p.kill('SIGKILL')
}

// ---------------------------------------------------------------- runs

async function benchOurs (n: number): Promise<Record<string, unknown>> {
  const c = new AgentCluster({ cli: CLI, agentArgs: values['agent-args'].split(' ').filter(a => a !== '') })
  try {
    if (joinMode === 'boot' || joinMode === 'rolling') {
      const started = performance.now()
      await c.start(n, joinMode)
      const startMs = Math.round(performance.now() - started)
      const missingAlive: Array<[number, number]> = []
      const settleMs = await waitAllAlive(c, n, 600_000, missingAlive)
      const messagesWhileJoining = await c.messagesSent()
      if (settleMs === null) return { joinMode, startMs, converged: false, messagesWhileJoining, missingAlive }
      // boot: startMs is from spawning the seed until all answer; rolling: the whole one-by-one start.
      const settled = joinMode === 'boot' ? { allAliveMsAfterSpawn: startMs + settleMs } : { allAliveMsAfterLastStart: settleMs }
      return { joinMode, startMs, ...settled, messagesWhileJoining, missingAlive, ...await measureSettled(c, n) }
    }
    await c.start(n)
    const { result: { result: joinMs, churnBytes: joinBytes }, cpuPercentPerStep } =
      await cpuTraceDuring(c.livePids(), async () => await bytesDuring(c.livePids(), async () => await c.joinAllThroughSeed(joinGapMs)))
    const messagesWhileJoining = await c.messagesSent()
    if (joinMs.allMs === null) return { join: joinMs, converged: false, messagesWhileJoining }
    return {
      joinAllMs: Math.round(joinMs.allMs),
      messagesWhileJoining,
      joinBytes,
      joinMedianMs: Math.round(joinMs.medianMs ?? NaN),
      joinReturnedMs: joinMs.joinReturnedMs,
      // Both cores busy reads 200: tells a CPU-bound herd from one waiting on timers.
      cpuPercentPerSecondWhileJoining: cpuPercentPerStep,
      ...(joinGapMs > 0 ? { joinGapMs, joinAfterLastMs: Math.round(joinMs.afterLastJoinMs ?? NaN) } : {}),
      failedJoins: joinMs.failedJoins,
      ...await measureSettled(c, n)
    }
  } finally { await c.stop() }
}

/** Idle figures, kill -9 detection and false positives of a cluster that has converged. */
async function measureSettled (c: AgentCluster, n: number): Promise<Record<string, unknown>> {
  {
    await sleep(settleWaitMs) // past the joiners' follow-up push-pulls (0.25, 1, 3 s) at least
    const whileJoining = c.resetVerdicts()
    const bytes0 = await c.appBytes()
    const idle = await measureIdle(c.livePids(), idleMs)
    const bytes1 = await c.appBytes()
    const appBytesPerSec = median(bytes1.map((b, i) => (b - bytes0[i]) / (idleMs / 1000)))
    const suspectsBeforeKill = c.falsePositives().suspects
    const { result: detect, churnBytes: detectBytes } = await bytesDuring(c.livePids(), async () => await c.killAndDetect(n - 1))
    await sleep(1000)
    c.resetSuspicions()
    const fp = await falsePositiveRun(() => c.falsePositives())
    return {
      detectAllMs: Math.round(detect.allMs),
      detectFirstMs: Math.round(detect.firstMs),
      detectBytes,
      idle: { ...idle, appBytesOutPerSecMedian: Math.round(appBytesPerSec) },
      verdictsAboutLiveNodesWhileJoining: whileJoining,
      suspicionsOfLiveNodesWhileIdle: suspectsBeforeKill,
      loaded: fp
    }
  }
}

async function benchSerf (n: number): Promise<Record<string, unknown>> {
  const c = new SerfCluster()
  try {
    await c.start(n)
    const pids = c.nodes.map(x => x.proc.pid as number)
    const { result: joinMs, churnBytes: joinBytes } = await bytesDuring(pids, async () => await c.joinAllThroughSeed())
    if (joinMs === null) return { converged: false, joinTimeoutMs: SERF_JOIN_TIMEOUT_MS, missingJoins: c.missingJoins(), joinBytes }
    await sleep(4000)
    const idle = await measureIdle(pids, idleMs)
    const sendBytesPerSecTraced = tracedSendBytesPerSec(pids[1], idleMs / 1000)
    const { result: detect, churnBytes: detectBytes } = await bytesDuring(pids, async () => await c.killAndDetect(n - 1))
    await sleep(1000)
    const fp = await falsePositiveRun(() => ({ fails: c.falsePositives() }))
    return {
      joinAllMs: Math.round(joinMs),
      joinBytes,
      detectAllMs: Math.round(detect.allMs),
      detectFirstMs: Math.round(detect.firstMs),
      detectBytes,
      // writeBytesPerSecMedian and the churn bytes miss Serf's UDP: see tracedSendBytesPerSec.
      idle: { ...idle, oneAgentSendBytesPerSecTraced: sendBytesPerSecTraced },
      loaded: fp
    }
  } finally { await c.stop() }
}

async function falsePositiveRun<T> (count: () => T): Promise<{ seconds: number } & T | { seconds: 0 }> {
  if (fpMs === 0) return { seconds: 0 }
  const load = startLoad()
  try {
    await sleep(fpMs)
  } finally { stopLoad(load) }
  await sleep(2000) // verdicts reached during the load still arrive
  return { seconds: fpMs / 1000, ...count() }
}

const withSerf = values['no-serf'] !== true && serfAvailable()
const out: Record<string, unknown> = {
  bench: 'membership',
  node: process.version,
  cores: (await import('node:os')).cpus().length,
  entry: CLI,
  fpSeconds: fpMs / 1000,
  idleSeconds: idleMs / 1000,
  serf: withSerf ? 'serf 0.8 (Debian)' : 'skipped',
  results: [] as unknown[]
}
for (const n of sizes) {
  const ours = await benchOurs(n)
  const serf = withSerf ? await benchSerf(n) : undefined
  ;(out.results as unknown[]).push({ nodes: n, ringleader: ours, ...(serf !== undefined ? { serf } : {}) })
  process.stderr.write(`done N=${n}\n`)
}
console.log(JSON.stringify(out, null, 2))

// ---------------------------------------------------------------- small helpers

function round (x: number, digits: number): number { return Number(x.toFixed(digits)) }
