// agent members / agent monitor: the membership view of the running agent.
import { parseArgs } from 'node:util'
import { callAgent, streamAgent } from '../socket/client.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatTable } from './table.js'

const STATUSES = ['alive', 'suspect', 'dead', 'left']

interface MemberRowView {
  id: string
  status: string
  incarnation: number
  addrs: string[]
  self: boolean
  region: number | null
  zone: number | null
  storage: string | null
  devices: Array<{ name: string, weight: number }>
}

export function formatMembers (rows: MemberRowView[]): string {
  return formatTable(['id', 'status', 'inc', 'region/zone', 'storage', 'devices', 'addrs'], rows.map(r => [
    r.self ? `${r.id} (self)` : r.id,
    r.status,
    r.incarnation,
    r.region === null ? '-' : `${r.region}/${r.zone ?? '-'}`,
    r.storage ?? '-',
    r.devices.length === 0 ? '-' : r.devices.map(d => `${d.name}:${d.weight}`).join(','),
    r.addrs.length === 0 ? '-' : r.addrs.join(',')
  ]))
}

export const membersCommand: Subcommand = {
  name: 'members',
  summary: 'List cluster members: id, status, incarnation, region/zone, devices, addresses',
  usage: `Usage: agent members [--status alive,suspect,dead,left] [--data-dir DIR] [--json]

Lists every member the local agent knows, itself included; dead and left members
stay listed until they are reaped (1 h).

  --status LIST    only these statuses (comma-separated or repeated)
${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('members', io, () => dataDir, async () => {
      const options = { ...CLIENT_OPTIONS, status: { type: 'string', multiple: true } } as const
      const { values } = usageOnError(() => parseArgs({ args: argv, options, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(membersCommand.usage); return EXIT.ok }
      const status = values.status?.flatMap(s => s.split(',')).map(s => s.trim()).filter(s => s !== '')
      for (const s of status ?? []) if (!STATUSES.includes(s)) throw new UsageError(`--status: unknown status ${JSON.stringify(s)}; use ${STATUSES.join(',')}`)
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const rows = await callAgent(target.socket, 'members', status === undefined ? {} : { status }) as MemberRowView[]
      io.stdout(values.json === true ? JSON.stringify(rows, null, 2) + '\n' : formatMembers(rows))
      return EXIT.ok
    })
  }
}

export const monitorCommand: Subcommand = {
  name: 'monitor',
  summary: 'Stream membership events as JSON lines until Ctrl-C',
  usage: `Usage: agent monitor [--data-dir DIR]

Prints one JSON object per membership event as the local agent sees it:
{"kind":"join|update|suspect|recover|fail|leave|reap","id","status","incarnation","previous","at"}.
Stops on Ctrl-C or when the agent exits.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('monitor', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(monitorCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const stop = new AbortController()
      const onSignal = (): void => { stop.abort() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        await streamAgent(target.socket, 'monitor', {}, event => { io.stdout(JSON.stringify(event) + '\n') }, { signal: stop.signal })
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
      return EXIT.ok
    })
  }
}
