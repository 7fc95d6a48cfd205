// agent map / wait / bootstrap: the cluster map as the local agent holds it,
// waiting for readiness, and making epoch 1 of a new cluster.
import { parseArgs } from 'node:util'
import { parseRing } from '../config.js'
import type { MapAnswer } from '../map-commands.js'
import { callAgent } from '../socket/client.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatKeyValues, formatTable } from './table.js'
import { formatPending } from './status.js'

function formatBytes (n: number | undefined): string {
  if (n === undefined) return '-'
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

export function formatMap (a: MapAnswer): string {
  const s = a.status
  const head: Array<[string, unknown]> = [['state', s.state], ['newest seen', s.newestSeen], ...(s.pending !== undefined ? [['pending', formatPending(s.pending)] as [string, unknown]] : [])]
  if (a.map === null) return formatKeyValues([['epoch', 'none installed'], ...head, ['ring dir', a.ringDir]])
  const m = a.map
  return formatKeyValues([
    ['epoch', m.epoch],
    ...head,
    ['hash', m.hash],
    ['prev', m.prev ?? '-'],
    ['coordinator', m.coordinator],
    ['created', m.createdAt !== undefined ? new Date(m.createdAt).toISOString() : '-'],
    ['members', m.members],
    ['ring dir', a.ringDir],
    ['epochs kept', m.retainedEpochs.join(', ')],
    ['members by epoch', Object.entries(s.membersByEpoch).map(([e, n]) => `${e}: ${n}`).join(', ')]
  ]) + '\n' + formatTable(['ring', 'part power', 'replicas', 'min part hours', 'overload', 'size', 'cid'],
    m.rings.map(r => [r.name, r.partPower, r.replicas, r.minPartHours, r.overload, formatBytes(r.size), r.cid]))
}

export const mapCommand: Subcommand = {
  name: 'map',
  summary: 'Show the installed cluster map: epoch, coordinator, rings and CIDs',
  usage: `Usage: agent map [--data-dir DIR] [--json]

Shows the cluster map the local agent has installed: epoch, hash and previous
hash, coordinator, rings (part power, replicas, min_part_hours, overload, size,
content address), the epochs whose blobs are kept, and how many members report
each epoch (the cluster's sync status).

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('map', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(mapCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const answer = await callAgent(target.socket, 'map') as MapAnswer
      io.stdout(values.json === true ? JSON.stringify(answer, null, 2) + '\n' : formatMap(answer))
      return EXIT.ok
    })
  }
}

const WAIT_OPTIONS = { ...CLIENT_OPTIONS, ready: { type: 'boolean' }, epoch: { type: 'string' }, timeout: { type: 'string' } } as const

export const waitCommand: Subcommand = {
  name: 'wait',
  summary: 'Wait until the agent is ready (holds the newest map, installed)',
  usage: `Usage: agent wait --ready [--epoch N] [--timeout S] [--data-dir DIR] [--json]

Blocks until the local agent is ready: it holds the newest cluster map it knows
of, with every ring installed, and no member reports a newer epoch. With --epoch,
also waits until the installed epoch is at least N. Exit 0 when ready, 1 on
timeout (default 60 s), 3 when no agent is running.

  --ready          required: what to wait for
  --epoch N        wait for at least epoch N
  --timeout S      give up after S seconds (default 60)
${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('wait', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: WAIT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(waitCommand.usage); return EXIT.ok }
      if (values.ready !== true) throw new UsageError('say what to wait for: --ready')
      const epoch = values.epoch === undefined ? undefined : integerFlag('--epoch', values.epoch, 0, Number.MAX_SAFE_INTEGER)
      const timeoutS = values.timeout === undefined ? 60 : integerFlag('--timeout', values.timeout, 0, 3600)
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const args = { timeoutMs: timeoutS * 1000, ...(epoch !== undefined ? { epoch } : {}) }
      const r = await callAgent(target.socket, 'wait-ready', args, { timeoutMs: timeoutS * 1000 + 5000 }) as { state: string, epoch: number }
      io.stdout(values.json === true ? JSON.stringify(r) + '\n' : `ready at epoch ${r.epoch}\n`)
      return EXIT.ok
    })
  }
}

const BOOTSTRAP_OPTIONS = { ...CLIENT_OPTIONS, ring: { type: 'string', multiple: true } } as const

export const bootstrapCommand: Subcommand = {
  name: 'bootstrap',
  summary: 'Initialise a new cluster: make epoch 1 with the given rings',
  usage: `Usage: agent bootstrap [--ring NAME:P:R[:H[:O]]]... [--data-dir DIR] [--json]

Makes epoch 1 of a new cluster from the members the local agent sees now, with
rings of part power P, replicas R, min_part_hours H (default 1) and overload O
(default 0); by default account, container and object at 10:3:1. Refused, and
nothing changes, when this node or any member it sees already has a cluster map.
Start the other agents with --join first: every device they have goes into the
rings. (agent start --bootstrap does the same at start-up.)

  --ring SPEC      a ring, repeatable
${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('bootstrap', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: BOOTSTRAP_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(bootstrapCommand.usage); return EXIT.ok }
      // Checked here too, so a typo is a usage error (exit 2) before the agent is asked.
      for (const spec of values.ring ?? []) parseRing('--ring', spec)
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const r = await callAgent(target.socket, 'bootstrap', values.ring !== undefined ? { rings: values.ring } : {}, { timeoutMs: 130_000 }) as { epoch: number }
      io.stdout(values.json === true ? JSON.stringify(r) + '\n' : `Bootstrapped: epoch ${r.epoch} published.\n`)
      return EXIT.ok
    })
  }
}

function integerFlag (flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`)
  return Number(text)
}
