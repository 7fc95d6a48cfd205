// How every way we launch an agent starts node (the sh launcher of the bundle and
// the Docker image, `agent dev`'s children, the benchmarks). These are start-up
// settings: v8.setFlagsFromString at run time does not resize the heap, and glibc
// reads its tunables once.
//
// - `--max-semi-space-size=2`: V8 sizes the young generation up to 2 × 16 MiB and
//   keeps what it grew to: after a join an agent's heap held ~57 MB for ~30 MB in
//   use. Measured in a 20-agent cluster: RSS 112 → 88 MB per agent, idle CPU
//   unchanged (1.7 %).
// - `--v8-pool-size=1` and MALLOC_ARENA_MAX=1: every V8 worker thread (node starts
//   four) and every libuv thread touches its own glibc malloc arena, ~1–2 MB each
//   that is never given back. The agent's work is on the main thread. Measured in a
//   30-agent rolling start (median RSS, two runs each): 80.0/80.8 → 74.8/75.2 MB
//   with both, idle CPU 2.5/2.6 → 2.8/2.3 % (noise); either alone gave about half.
// - `--no-sparkplug`: V8's baseline compiler keeps machine code for every warm
//   function in the heap beside its bytecode; an agent's hot paths are short. Same
//   30-agent start with the two above: heap total 24.7/25.2 → 22.2/21.7 MB, RSS
//   77.2/78.3 → 75.2/74.6 MB, idle CPU 3.1/3.3 → 2.9/3.4 % (noise).
// - `--heap-growing-percent=25`: after a full GC V8 lets the old generation grow to
//   up to 4× what survived before it collects again, so an idle agent's heap saws
//   between ~15 and ~35 MB and its RSS depends on when one looks. 1.25× bounds the
//   tooth; an agent's live heap is small (~12 MB) and idle allocation slow, so the
//   extra full GCs cost nothing measurable. 50-agent rolling start, two interleaved
//   runs each: largest RSS 88.8/92.3 → 80.3/77.6 MB, median 71.5/76.6 → 76.3/70.9
//   MB (noise), heap total at most 33.0/36.5 → 25.2/24.5 MB, idle CPU 2.5/2.4 →
//   1.8/2.4 %.
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--v8-pool-size=1', '--no-sparkplug', '--heap-growing-percent=25']

/** Environment a launched agent gets unless the operator set the variable already. */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' }

/** `base` with AGENT_ENV filled in where `base` leaves a variable unset. */
export function agentEnv (base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...AGENT_ENV, ...base }
}
