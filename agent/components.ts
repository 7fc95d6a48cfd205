// The components `agent start` runs inside the daemon, in start order (they stop
// in reverse). This is the one place to wire in membership, the cluster map, the
// blob store and ring installation: each is a Component (see daemon.ts) that gets
// the DaemonContext — config, logger, libp2p node, socket command registry and
// status board — when it starts.
import type { AgentConfig } from './config.js'
import type { Component } from './daemon.js'
import { MembershipService } from './membership/service.js'

export function defaultComponents (_config: AgentConfig): Component[] {
  // The map service (next) takes this same instance as its MembershipPort.
  const membership = new MembershipService()
  return [membership]
}
