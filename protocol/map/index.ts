// The pure cluster-map package: the map and its canonical encoding, its total order
// and acceptance rule, coordinator choice, rebalance planning and the debounce window.
export { type ClusterMap, type RingEntry, encodeMap, decodeMap, mapHash } from './map.js'
export { MapError, type MapErrorCode, validateMap, validateRingEntry, isPeerIdString, compareIds, MAX_MAP_BYTES, RING_NAME } from './validate.js'
export { compareMaps, isSuccessor, acceptMap, type AcceptVerdict, type AcceptContext, type RejectReason } from './order.js'
export { chooseCoordinator, coordinatorChoice, type CoordinatorCandidate, type CoordinatorChoice, type MemberStatus } from './coordinator.js'
export { planRebalance, hasMajority, type PlanInput, type PlanMember, type RebalancePlan, type RingPlan, type RingDefinition, type RingParams, type PreviousDevice } from './plan.js'
export { QuietWindow } from './debounce.js'
export { blobCid, blobCidDigest, blobCidFromDigest, isBlobCid } from './blob-cid.js'
export { EpochMachine, validateRingDefinition, type MapVerdict } from './epoch-machine.js'
export { EpochError, type EpochErrorCode, type EpochViewMember, type RingDevices, type BuildRing, type BuildRequest, type BuildOutcome, type ReadinessState, type Readiness, type EpochEvent, type EpochReady, type EpochMachineConfig } from './epoch-types.js'
