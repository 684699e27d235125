export interface Summary {
  p50: number
  p90: number
  p99: number
  max: number
}

/**
 * Percentiles (nearest rank), rounded to 0.1. A client that was never answered counts as Infinity,
 * so failures push the percentiles up instead of dropping out of them (JSON shows them as null).
 */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  const round = (n: number) => Math.round(n * 10) / 10
  return {
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1)!),
  }
}

/** A figure for the table: `-` when not measured, `inf` when some client was never answered. */
export function figure(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '-'
  if (value === Infinity) return 'inf'
  return String(value)
}
