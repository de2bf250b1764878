// A job's in-job evaluation, drawn from its ``eval_summary`` extension field: base vs tuned per
// graded metric, the forgetting figures on the reference set (drawn only when the summary has
// them), the early stop, and the best checkpoint by name.

import { facts, h, table } from "./dom.js";
import * as format from "./format.js";

/** ``valid_exact_match`` → ``exact match``: the grader's name as a person reads it. */
export function metricLabel(key) {
  return key.replace(/^valid_/, "").replaceAll("_", " ");
}

// Validation figures that are not graded answers: the loss and token-accuracy charts draw them.
const NOT_GRADED = new Set(["valid_loss", "valid_mean_token_accuracy"]);

/** The graded scores among a metrics event's keys (``valid_<grader>``: the default graders' or
 * the job's own), in their order. */
export function gradedMetricKeys(data) {
  return Object.keys(data ?? {}).filter((key) => key.startsWith("valid_") && !NOT_GRADED.has(key));
}

/** The metrics of ``base`` and ``tuned`` in the order they first appear, each with both values
 * (null where one side lacks it) and the change. */
export function comparisonRows(base, tuned) {
  const before = base ?? {};
  const after = tuned ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.map((key) => {
    const a = before[key] ?? null;
    const b = after[key] ?? null;
    return { key, base: a, tuned: b, change: a === null || b === null ? null : b - a };
  });
}

function signed(value) {
  if (value === null) return "—";
  return `${value > 0 ? "+" : ""}${format.metric(value)}`;
}

function comparisonTable(caption, rows, tunedHeader) {
  return table(caption, [["Metric"], ["Base", "num"], [tunedHeader, "num"], ["Change", "num"]],
    rows.map((row) => h("tr", { dataset: { metric: row.key } },
      h("td", {}, metricLabel(row.key)),
      h("td", { class: "num" }, format.metric(row.base)),
      h("td", { class: "num" }, format.metric(row.tuned)),
      h("td", { class: `num ${row.change > 0 ? "better" : row.change < 0 ? "worse" : ""}` }, signed(row.change)))),
    "Waiting for the base model's evaluation…");
}

/** ``forgetting`` as it comes: one figure, or one per metric. */
function forgettingFigures(forgetting) {
  if (forgetting === null || forgetting === undefined) return [];
  if (typeof forgetting !== "object") return [["Forgetting", format.metric(Number(forgetting))]];
  return Object.entries(forgetting).map(([key, value]) => [
    `Forgetting (${metricLabel(key)})`,
    typeof value === "number" ? format.metric(value) : JSON.stringify(value),
  ]);
}

/** The evaluation panel's content; ``checkpointLink(name)`` makes the best checkpoint's link. */
export function evaluationView(summary, checkpointLink) {
  const parts = [];
  const tunedStep = summary?.tuned_step;
  parts.push(comparisonTable(
    "Validation set: the base model before training vs the tuned model",
    comparisonRows(summary?.base, summary?.tuned),
    tunedStep === undefined || tunedStep === null ? "Tuned" : `Tuned (step ${tunedStep})`,
  ));
  if (summary?.reference_base || summary?.reference_tuned) {
    const reference = comparisonTable(
      "Reference set (what the base could already do): base vs tuned",
      comparisonRows(summary.reference_base, summary.reference_tuned),
      "Tuned",
    );
    reference.dataset.set = "reference";
    parts.push(reference);
  }
  const best = summary?.best_checkpoint;
  const figures = facts([
    ...forgettingFigures(summary?.forgetting),
    ["Best checkpoint", best ? h("span", { id: "best-checkpoint" },
      checkpointLink(best.fine_tuned_model_checkpoint),
      ` step ${best.step}, ${best.metric} ${format.metric(best.value)}`) : undefined],
    ["Stopped early at", summary?.stopped_early_at != null ? `step ${summary.stopped_early_at}` : undefined],
    ["Evaluation time", summary?.eval_seconds != null ? `${format.metric(summary.eval_seconds)} s` : undefined],
  ]);
  if (figures.children.length) parts.push(figures);
  return parts;
}
