// Socket commands of the map component: map, ring-set, wait-ready, bootstrap.
// Arguments are type-checked by the registry; values are checked here and by the
// map service, and a bad request changes nothing.
import { NEW_RING_DEFAULTS, validateRingDefinition } from '../protocol/map/ring-definition.js'
import { ConfigError, DEFAULT_RINGS, parseRing } from './config.js'
import type { MapInfo, MapService, MapStatus } from './map-service.js'
import { CommandError, SocketErrorCode } from './socket/protocol.js'
import type { CommandRegistry } from './socket/registry.js'
import type { RingDefinition } from '../protocol/map/plan.js'

/** Longest `wait-ready` the socket accepts (the client's own timeout must be longer). */
export const MAX_WAIT_READY_MS = 3_600_000

export interface MapCommandDeps {
  service: MapService
  ringDir: string
}

/** What `map` answers: the installed map (null before the first install) and where its rings are. */
export interface MapAnswer { map: MapInfo | null, ringDir: string, status: MapStatus }

const badArgs = (message: string): CommandError => new CommandError(SocketErrorCode.badArgs, message)

export function registerMapCommands (registry: CommandRegistry, deps: MapCommandDeps): void {
  const { service } = deps

  registry.register({
    name: 'map',
    summary: 'The installed cluster map: epoch, coordinator, rings with CIDs and sizes, retained epochs',
    args: {},
    handler: (): MapAnswer => ({ map: service.map() ?? null, ringDir: deps.ringDir, status: service.status() })
  })

  registry.register({
    name: 'ring-set',
    summary: 'Add or change a ring definition; forwarded to the coordinator, answers with the epoch that carries it',
    args: {
      name: { type: 'string', required: true, description: 'ring name, [a-z0-9_-]{1,32}' },
      partPower: { type: 'integer', description: 'log2 of the partition count (required for a new ring; cannot change)' },
      replicas: { type: 'number', description: 'replica count, fractional allowed (required for a new ring)' },
      minPartHours: { type: 'integer', description: 'hours before a moved partition may move again (new ring default 1)' },
      overload: { type: 'number', description: 'fraction a device may exceed its weight share for dispersion (new ring default 0)' }
    },
    handler: async (args) => {
      const current = service.map()?.rings.find(r => r.name === args.name)
      const def = {
        name: args.name,
        partPower: args.partPower ?? current?.partPower,
        replicas: args.replicas ?? current?.replicas,
        minPartHours: args.minPartHours ?? current?.minPartHours ?? NEW_RING_DEFAULTS.minPartHours,
        overload: args.overload ?? current?.overload ?? NEW_RING_DEFAULTS.overload
      }
      if (def.partPower === undefined || def.replicas === undefined) throw badArgs(`ring ${args.name} does not exist yet: give partPower and replicas`)
      let valid: RingDefinition
      try { valid = validateRingDefinition(def) } catch (err) { throw badArgs((err as Error).message) }
      return await service.ringSet(valid)
    }
  })

  registry.register({
    name: 'wait-ready',
    summary: 'Answers once this node is ready (holds the newest map, installed), at epoch or later if given',
    args: {
      epoch: { type: 'integer', description: 'wait for at least this epoch' },
      timeoutMs: { type: 'integer', description: `give up after this long (default 60000, at most ${MAX_WAIT_READY_MS})` }
    },
    handler: async (args, ctx) => {
      const timeoutMs = args.timeoutMs ?? 60_000
      if (timeoutMs < 0 || timeoutMs > MAX_WAIT_READY_MS) throw badArgs(`timeoutMs must be in [0, ${MAX_WAIT_READY_MS}]`)
      if (args.epoch !== undefined && args.epoch < 0) throw badArgs('epoch must be >= 0')
      return await service.waitReady({ timeoutMs, signal: ctx.signal, ...(args.epoch !== undefined ? { epoch: args.epoch } : {}) })
    }
  })

  registry.register({
    name: 'bootstrap',
    summary: 'Initialise a new cluster (epoch 1); refused when this node or any member already has a map',
    args: {
      rings: { type: 'string[]', description: 'NAME:PART_POWER:REPLICAS[:MIN_PART_HOURS[:OVERLOAD]] (default account, container and object 10:3:1)' }
    },
    handler: async (args) => {
      let rings: RingDefinition[]
      try {
        rings = args.rings === undefined || args.rings.length === 0 ? DEFAULT_RINGS.map(r => ({ ...r })) : args.rings.map(r => parseRing('rings', r))
      } catch (err) {
        throw badArgs(err instanceof ConfigError ? err.message : String(err))
      }
      if (new Set(rings.map(r => r.name)).size !== rings.length) throw badArgs('a ring is given twice')
      return await service.bootstrap(rings)
    }
  })
}
