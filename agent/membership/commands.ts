// Socket commands of the membership component: members, join, leave,
// force-leave, monitor (streaming) and device. Errors carry a `code` that the
// socket passes to the client.
import type { MemberStatus } from '../../protocol/membership/index.js'
import type { CommandRegistry } from '../socket/registry.js'
import { DeviceError, parseWeight } from './meta.js'
import type { MembershipService, MonitorEvent } from './service.js'

const STATUSES: readonly MemberStatus[] = ['alive', 'suspect', 'dead', 'left']
const MAX_JOIN_ADDRS = 16

export class MembershipCommandError extends Error {
  constructor (readonly code: 'bad-args' | 'join-failed', message: string) {
    super(message)
    this.name = 'MembershipCommandError'
  }
}

/** One row of `members`: the entry plus its decoded meta and since when it has had its status. */
export interface MemberRow {
  id: string
  status: MemberStatus
  incarnation: number
  addrs: string[]
  statusSince: string | null
  self: boolean
  region: number | null
  zone: number | null
  storage: string | null
  devices: Array<{ name: string, weight: number }>
  epoch: number | null
  ready: boolean | null
}

export function parseStatusFilter (list: readonly string[] | undefined): Set<MemberStatus> | undefined {
  if (list === undefined) return undefined
  const wanted = list.flatMap(s => s.split(',')).map(s => s.trim()).filter(s => s !== '')
  for (const s of wanted) {
    if (!(STATUSES as readonly string[]).includes(s)) throw new MembershipCommandError('bad-args', `unknown status ${JSON.stringify(s)}; use ${STATUSES.join(', ')}`)
  }
  return new Set(wanted as MemberStatus[])
}

export function registerMembershipCommands (registry: CommandRegistry, service: MembershipService): void {
  registry.register({
    name: 'members',
    summary: 'List known members (self, dead and left included until reaped)',
    args: { status: { type: 'string[]', description: `only these statuses: ${STATUSES.join('|')}` } },
    handler: (args): MemberRow[] => {
      const filter = parseStatusFilter(args.status)
      const self = service.selfId
      return service.members().filter(e => filter === undefined || filter.has(e.status)).map(e => {
        const meta = service.decodeMeta(e.meta)
        const since = service.statusSince(e.id)
        return {
          id: e.id,
          status: e.status,
          incarnation: e.incarnation,
          addrs: [...e.addrs],
          statusSince: since === undefined ? null : new Date(since).toISOString(),
          self: e.id === self,
          region: meta?.region ?? null,
          zone: meta?.zone ?? null,
          storage: meta === undefined ? null : (meta.storageIp.includes(':') ? `[${meta.storageIp}]:${meta.storagePort}` : `${meta.storageIp}:${meta.storagePort}`),
          devices: meta?.devices ?? [],
          epoch: meta?.epoch ?? null,
          ready: meta?.ready ?? null
        }
      })
    }
  })

  registry.register({
    name: 'join',
    summary: 'Join the cluster through peers; answers once a push-pull with one of them completed',
    args: {
      addrs: { type: 'string[]', required: true, description: 'multiaddrs (with or without /p2p/), host:port or [v6]:port' },
      retries: { type: 'integer', description: 'dial retries per address (default 10, all within 35 s)' }
    },
    handler: async (args, ctx) => {
      if (args.addrs.length === 0 || args.addrs.length > MAX_JOIN_ADDRS) throw new MembershipCommandError('bad-args', `join: give 1 to ${MAX_JOIN_ADDRS} addresses`)
      if (args.retries !== undefined && (args.retries < 0 || args.retries > 10)) throw new MembershipCommandError('bad-args', 'join: retries must be 0..10')
      const result = await service.join(args.addrs, { retries: args.retries, signal: ctx.signal })
      if (result.joined.length === 0) {
        throw new MembershipCommandError('join-failed', result.errors.map(e => `${e.addr}: ${e.code}: ${e.message}`).join('; '))
      }
      return result
    }
  })

  registry.register({
    name: 'leave',
    summary: 'Leave the cluster gracefully (publishes left, waits briefly for it to spread), then stop the agent',
    args: {},
    handler: async () => await service.leave()
  })

  registry.register({
    name: 'force-leave',
    summary: 'Mark a dead member as left (retire a node that will never return); refused for live members',
    args: { id: { type: 'string', required: true, description: 'the member id (PeerId)' } },
    handler: (args) => {
      const e = service.forceLeave(args.id)
      return { id: e.id, status: e.status, incarnation: e.incarnation }
    }
  })

  registry.register({
    name: 'monitor',
    summary: 'Stream membership events (join, update, suspect, recover, fail, leave, reap)',
    args: {},
    stream: true,
    handler: async (_args, ctx) => {
      await new Promise<void>(resolve => {
        let unsubscribe = (): void => {}
        const finish = (): void => { unsubscribe(); resolve() }
        unsubscribe = service.subscribe((e: MonitorEvent) => {
          try { ctx.emit(e) } catch { finish() }
        })
        if (ctx.signal.aborted) finish()
        else ctx.signal.addEventListener('abort', finish, { once: true })
      })
    }
  })

  registry.register({
    name: 'device',
    summary: "Change this node's devices: op add|set|remove|list; the change raises the incarnation and gossips",
    args: {
      op: { type: 'string', required: true, description: 'add | set | remove | list' },
      name: { type: 'string', description: 'device name (add, set, remove)' },
      weight: { type: 'number', description: 'weight >= 0 (add: default 100; set: required)' }
    },
    handler: (args) => {
      const { op, name, weight } = args
      if (op === 'list') return { devices: service.localMeta().devices }
      if (op !== 'add' && op !== 'set' && op !== 'remove') throw new DeviceError('invalid-device', `unknown op ${JSON.stringify(op)}; use add, set, remove or list`)
      if (name === undefined) throw new DeviceError('invalid-device', `device ${op}: a name is required`)
      let meta
      if (op === 'remove') meta = service.changeDevices({ op, name })
      else {
        if (op === 'set' && weight === undefined) throw new DeviceError('invalid-device', 'device set: a weight is required')
        meta = service.changeDevices({ op, name, weight: weight ?? parseWeight('100') })
      }
      return { devices: meta.devices }
    }
  })
}
