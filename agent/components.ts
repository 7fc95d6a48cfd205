// The components `agent start` runs inside the daemon, in start order (they stop
// in reverse). This is the one place to wire in membership, the cluster map, the
// blob store and ring installation: each is a Component (see daemon.ts) that gets
// the DaemonContext — config, logger, libp2p node, socket command registry and
// status board — when it starts.
import type { AgentConfig } from './config.js'
import type { Component } from './daemon.js'
import { MapComponent } from './map-component.js'
import { MembershipService } from './membership/service.js'

export function defaultComponents (config: AgentConfig): Component[] {
  // The first follow-up push-pull comes at 100 ms instead of the core's 250 ms: a
  // joiner that the seed's gossip of a concurrent joiner missed (its subscription
  // was not yet known) catches up sooner; one extra push-pull per join is cheap.
  const probe = config.probeIntervalMs
  const membership = new MembershipService({
    datagrams: config.probeUdp,
    core: {
      joinFollowUps: [100, 300, 1000, 3000],
      ...(probe !== undefined ? { probeInterval: probe, probeTimeout: Math.floor(probe / 2) } : {}),
      ...(config.probeObservers !== undefined ? { probeObservers: config.probeObservers } : {}),
      // A dead member must stay in the view until the map has dropped its devices:
      // the planner keeps the devices of a map member the view no longer lists.
      deadReapTimeout: Math.max(3_600_000, config.removeDeadAfterS * 1000 + 600_000)
    }
  })
  // The map service reads membership through its MembershipPort and advertises epoch,
  // readiness and held blobs in this node's meta.
  return [membership, new MapComponent(membership)]
}
