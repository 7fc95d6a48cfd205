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
  // No follow-up push-pulls after a join (the core's default is three): the seed
  // copies each publish to every connection gossipsub skipped, every joiner
  // push-pulls with another member once its join wave ends
  // (MembershipService.syncAfterWave), and digest repair catches what both missed.
  // In a 50-agent herd the four follow-ups the agent ran were three of every four
  // push-pulls, and while a joiner holds only its seed's connection, the later ones
  // dialled other members: herds of ~6.5 s instead of ~4 s (docs/benchmarks.md §
  // N = 50, "The star during the wave").
  const probe = config.probeIntervalMs
  const membership = new MembershipService({
    datagrams: config.probeUdp,
    core: {
      joinFollowUps: [],
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
