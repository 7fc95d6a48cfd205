// Runs one ring rebalance off the event loop, so gossip and failure-detector probes
// keep flowing while a 2^20-partition ring is built (about 1–2 s of CPU here).
// buildRingOffThread() starts this file as a worker thread; when the file is not
// there (the single-file bundle), it builds on the calling thread instead.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker } from 'node:worker_threads'
import { decodeBuilderState, decodeRingGz, encodeBuilderState, encodeRingGz, rebalance } from '../ring/index.js'
import type { BuildParams, DeviceSpec, RingDevice } from '../ring/types.js'

export interface RingBuildJob {
  params: BuildParams
  devices: DeviceSpec[]
  /** Encoded builder state of the previous epoch, if any… */
  previous?: Uint8Array
  /** …and that epoch's ring.gz, which holds the state's rows. */
  previousRing?: Uint8Array
  now: number
}

export interface RingBuildOutput {
  ringGz: Uint8Array
  builderState: Uint8Array
  devs: Array<RingDevice | null>
}

export function buildRing (job: RingBuildJob): RingBuildOutput {
  const previous = job.previous === undefined ? undefined : decodeBuilderState(job.previous, job.previousRing === undefined ? undefined : decodeRingGz(job.previousRing).rows)
  const result = rebalance({ params: job.params, devices: job.devices, previous, now: job.now })
  return { ringGz: encodeRingGz(result.ring), builderState: encodeBuilderState(result.state), devs: result.state.devs }
}

/** This file as a worker script, or undefined inside a bundle (whose CommonJS form has no import.meta.url). */
function workerUrl (): URL | undefined {
  try {
    const url = new URL('./map-build-worker.js', import.meta.url)
    return url.href.endsWith('/agent/map-build-worker.js') && existsSync(fileURLToPath(url)) ? url : undefined
  } catch {
    return undefined
  }
}

/** buildRing in a worker thread (one per call: builds are rare); inline if no worker file exists. */
export async function buildRingOffThread (job: RingBuildJob): Promise<RingBuildOutput> {
  const url = workerUrl()
  if (url === undefined) return buildRing(job)
  return await new Promise<RingBuildOutput>((resolve, reject) => {
    const worker = new Worker(url, { workerData: null })
    let settled = false
    worker.once('message', (msg: { ok: true, out: RingBuildOutput } | { ok: false, error: string }) => {
      settled = true
      void worker.terminate()
      if (msg.ok) resolve(msg.out)
      else reject(new Error(msg.error))
    })
    worker.once('error', (err) => { if (!settled) { settled = true; reject(err) } })
    worker.once('exit', (code) => { if (!settled) { settled = true; reject(new Error(`ring build worker exited with code ${code}`)) } })
    worker.postMessage(job)
  })
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort
  port.once('message', (job: RingBuildJob) => {
    try {
      const out = buildRing(job)
      port.postMessage({ ok: true, out }, [out.ringGz.buffer, out.builderState.buffer] as ArrayBuffer[])
    } catch (err) {
      port.postMessage({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
    }
  })
}
