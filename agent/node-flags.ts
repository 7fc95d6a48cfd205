// Node flags every way we launch an agent passes (the sh launcher of the bundle and
// the Docker image, `agent dev`'s children, the benchmarks). V8 sizes the young
// generation up to 2 × 16 MiB and keeps what it grew to: after a join an agent's
// heap held ~57 MB for ~30 MB in use. Capping a semi-space at 2 MiB measured, in a
// 20-agent cluster: RSS 112 → 88 MB per agent, idle CPU unchanged (1.7 %). These are
// start-up flags: v8.setFlagsFromString at run time does not resize the heap.
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2']
