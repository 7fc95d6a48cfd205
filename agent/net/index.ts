// The network layer: libp2p node factory, stream protocols, gossip topics, blob
// distribution, join targets and peer sampling. Types plus factories, as js-libp2p does.
export { createNode, type CreateNodeOptions, type RingleaderNode, type RingleaderServices } from './create-node.js'
export {
  ProtocolError, HandlerError, JoinAddressError, DialSeedError, SwarmFetchError,
  type ProtocolErrorCode, type JoinAddressErrorCode, type DialSeedErrorCode, type SwarmFetchErrorCode
} from './errors.js'
export {
  protocolId, serveRequestResponse, sendRequest,
  type StreamNode, type RequestHandler, type RequestResponseLimits, type ServeOptions, type ServerStats,
  type RequestResponseServer, type RequestOptions
} from './request-response.js'
export {
  openGossipTopic,
  type GossipTopic, type GossipTopicOptions, type GossipTopicStats, type GossipValidator, type GossipListener, type GossipVerdict
} from './gossip-topic.js'
export {
  BLOB_PROTOCOL, serveBlobs, fetchRange,
  type BlobSource, type BlobServer, type BlobServerOptions, type BlobServerStats, type FetchRangeOptions
} from './blob-protocol.js'
export {
  swarmFetch,
  type SwarmFetchOptions, type SwarmFetchStats, type PartialBlobSink, type PartialBlobTarget, type BlobHolder
} from './swarm-fetch.js'
export { tokenBucket, type ByteRateLimiter, type TokenBucketOptions } from './rate-limit.js'
export { parseJoinAddress, dialSeed, backoffDelay, DEFAULT_AGENT_PORT, type JoinTarget, type DialSeedOptions } from './join-address.js'
export { planSampling, PeerSampler, type SampleMember, type SamplingInput, type SamplingPlan, type PeerSamplerOptions, type PeerSamplerStats } from './peer-sampler.js'
export { startLocalNode, startLocalNodes, stopNodes, type LocalTransport } from './local-cluster.js'
