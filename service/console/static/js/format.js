// Formatting of times, durations, sizes and numbers for display.

export function dateTime(unixSeconds) {
  if (!unixSeconds) return "—"; // null, or 0 where the API has no date (base models)
  return new Date(unixSeconds * 1000).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString(undefined, { hour12: false });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function integer(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

/** Metrics: 4 significant digits, scientific for very small values such as learning rates. */
export function metric(value) {
  if (value === null || value === undefined) return "—";
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

/** A job's status as a person reads it: a paused job is queued with ``paused: true``. */
export function jobStatus(job) {
  return job.paused ? "paused" : job.status;
}

export const TERMINAL_STATUSES = new Set(["succeeded", "failed", "cancelled"]);

/** Seconds the job has taken so far (or took). */
export function jobDuration(job, nowSeconds = Date.now() / 1000) {
  const end = job.finished_at ?? (TERMINAL_STATUSES.has(job.status) ? null : nowSeconds);
  return end === null ? null : end - job.created_at;
}

/** Whether ``modelId`` names a job's checkpoint (``…:ckpt-step-N``), which the API does not
 * delete on its own: it goes with its fine-tuned model. */
export function isCheckpoint(modelId) {
  return /:ckpt-step-\d+$/.test(modelId);
}

/** ``ft:{base}:{org}:{suffix}:{id}[:ckpt-step-N]`` → ``base`` (null for a base model id). */
export function baseOfFineTuned(modelId) {
  if (!modelId.startsWith("ft:")) return null;
  return modelId.split(":")[1] || null;
}

/** ``part`` of ``whole`` as a percentage with one decimal (``—`` when there is nothing yet). */
export function percent(part, whole) {
  if (!whole) return "—";
  return `${((100 * part) / whole).toFixed(1)}%`;
}

/** A change in percentage points, signed (``+12.5 pp``); ``—`` when either side is unknown. */
export function pointsDelta(fromRate, toRate) {
  if (fromRate === null || toRate === null) return "—";
  const points = 100 * (toRate - fromRate);
  const sign = points > 0 ? "+" : points < 0 ? "−" : "±";
  return `${sign}${Math.abs(points).toFixed(1)} pp`;
}

export const TERMINAL_RUN_STATUSES = new Set(["completed", "failed", "canceled"]);
