// Our own signed peer record, sealed once per address set instead of once per
// identify.
//
// @libp2p/identify answers every identify request with a signed peer record; when
// the peer store holds none for this node (libp2p never stores one), it seals a new
// envelope each time: a PeerRecord encoding, an Ed25519 key import and a signature.
// Every new connection asks once, so a seed taking a burst of joins seals once per
// joiner, cold: in a CPU profile of a seed taking four joins at once, sealing was
// ~20 ms of its ~300 busy ms in the join's window. Here the record is sealed when
// the node's addresses are first known or change and kept in the peer store, where
// identify picks it up.
//
// Identify sends the address manager's addresses beside the record, and peers take
// the record's (certified) addresses: the record must follow the addresses. libp2p
// announces a change of ours with `self:peer:update` (the address manager patches
// our peer store entry, debounced by a second); the record is then resealed if the
// addresses differ from the sealed ones. Storing the record itself raises the same
// event, which finds the addresses unchanged and stops there.
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { CODE_P2P, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/** The libp2p surface this needs; a RingleaderNode fits. */
export interface SelfRecordNode {
  peerId: PeerId
  getMultiaddrs: () => Multiaddr[]
  peerStore: { consumePeerRecord: (buf: Uint8Array, options?: { expectedPeer?: PeerId }) => Promise<boolean> }
  addEventListener: (type: 'self:peer:update', listener: () => void) => void
  removeEventListener: (type: 'self:peer:update', listener: () => void) => void
}

export interface SelfRecordKeeper {
  /** Seals and stores the record if the addresses changed since the last one; resolves when done. */
  refresh: () => Promise<void>
  /** How many records were sealed. */
  readonly sealed: number
  stop: () => void
}

/** Addresses as identify announces them: ours, without the /p2p suffix. */
function announced (node: SelfRecordNode): Multiaddr[] {
  return node.getMultiaddrs().map(ma => ma.decapsulateCode(CODE_P2P))
}

export function keepSelfRecord (node: SelfRecordNode, privateKey: PrivateKey, opts: { onError?: (err: unknown) => void } = {}): SelfRecordKeeper {
  let sealedFor: string | undefined
  let sealed = 0
  let stopped = false
  let running: Promise<void> = Promise.resolve()

  const sealIfChanged = async (): Promise<void> => {
    if (stopped) return
    const addrs = announced(node)
    const key = addrs.map(a => a.toString()).sort().join(' ')
    if (addrs.length === 0 || key === sealedFor) return
    const envelope = await RecordEnvelope.seal(new PeerRecord({ peerId: node.peerId, multiaddrs: addrs }), privateKey)
    if (stopped) return
    await node.peerStore.consumePeerRecord(envelope.marshal(), { expectedPeer: node.peerId })
    sealedFor = key
    sealed++
  }

  // One refresh at a time: two racing seals could store the older record last.
  const refresh = async (): Promise<void> => {
    running = running.then(sealIfChanged).catch(err => { opts.onError?.(err) })
    await running
  }
  const onUpdate = (): void => { void refresh() }
  node.addEventListener('self:peer:update', onUpdate)
  void refresh()

  return {
    refresh,
    get sealed () { return sealed },
    stop: () => {
      stopped = true
      node.removeEventListener('self:peer:update', onUpdate)
    }
  }
}
