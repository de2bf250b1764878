// One file: its metadata, the dataset report for a base model (token counts and their histogram,
// warnings, first problems with their lines) and the loss-mask preview of any line.

import { BarChart, HistogramChart } from "../chart.js";
import { badge, facts, field, h, notice, replaceChildren, select, table } from "../dom.js";
import * as format from "../format.js";

const WAIT_FOR_VALIDATION_MS = 1000;

export function render({ api, params: [fileId] }) {
  const controller = new AbortController();
  const signal = controller.signal;
  const meta = h("div", {}, h("p", { class: "empty" }, "Loading…"));
  const reportRegion = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const previewRegion = h("div", { "aria-live": "polite" });
  const model = select([], { name: "model" });
  const line = h("input", { type: "number", name: "line", min: 1, value: 1, inputmode: "numeric" });
  let charts = [];

  async function loadReport() {
    if (!model.value) return;
    reportRegion.setAttribute("aria-busy", "true");
    replaceChildren(reportRegion, h("p", { class: "empty" }, `Tokenizing for ${model.value}…`));
    try {
      const report = await api.get(`/files/${fileId}/report`, { model: model.value }, signal);
      for (const chart of charts) chart.dispose();
      charts = [];
      replaceChildren(reportRegion, renderReport(report, (issueLine) => {
        line.value = issueLine;
        loadPreview();
        line.focus();
      }, charts));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(reportRegion, notice(error.message, "error"));
    } finally {
      reportRegion.setAttribute("aria-busy", "false");
    }
  }

  async function loadPreview() {
    if (!model.value) return;
    try {
      const preview = await api.get(`/files/${fileId}/preview`, { model: model.value, line: line.value || 1 }, signal);
      replaceChildren(previewRegion, renderPreview(preview));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(previewRegion, notice(error.message, "error"));
    }
  }

  async function load() {
    let file;
    try {
      file = await api.get(`/files/${fileId}`, {}, signal);
      while (file.status === "uploaded" && !signal.aborted) {
        replaceChildren(meta, fileFacts(file), h("p", { class: "empty" }, "Validating the file…"));
        await new Promise((resolve) => setTimeout(resolve, WAIT_FOR_VALIDATION_MS));
        file = await api.get(`/files/${fileId}`, {}, signal);
      }
      replaceChildren(meta, fileFacts(file));
      if (file.purpose !== "fine-tune") {
        replaceChildren(reportRegion, h("p", { class: "empty" }, "Dataset reports are made for files with purpose fine-tune."));
        return;
      }
      const models = await api.get("/models", {}, signal);
      const bases = models.data.filter((m) => m.owned_by === "system");
      replaceChildren(model, bases.map((m) => h("option", { value: m.id }, m.id)));
      await loadReport();
      await loadPreview();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(meta, notice(error.message, "error"));
    }
  }

  model.addEventListener("change", () => { loadReport(); loadPreview(); });
  const previewForm = h("form", { class: "toolbar", "aria-label": "Preview a line" },
    field("Line", line), h("button", { type: "submit" }, "Show line"));
  previewForm.addEventListener("submit", (event) => { event.preventDefault(); loadPreview(); });
  load();

  const element = h("div", {},
    h("p", {}, h("a", { href: "#/files" }, "← All files")),
    h("h1", { class: "mono" }, fileId),
    h("section", { class: "panel" }, meta),
    h("section", { class: "panel", "aria-labelledby": "report-title" },
      h("h2", { id: "report-title" }, "Dataset report"),
      h("div", { class: "toolbar" }, field("Tokenize for model", model, "The base model's tokenizer and chat template, as the trainer uses them.")),
      reportRegion),
    h("section", { class: "panel", "aria-labelledby": "preview-title" },
      h("h2", { id: "preview-title" }, "Loss-mask preview"),
      h("p", { class: "mask-legend" }, "The example as the model sees it; ",
        h("mark", {}, "highlighted tokens"), " are trained (the loss covers them), the rest are context."),
      previewForm,
      previewRegion));
  return {
    element,
    title: `File ${fileId}`,
    dispose() {
      controller.abort();
      for (const chart of charts) chart.dispose();
    },
  };
}

function fileFacts(file) {
  return facts([
    ["Filename", file.filename],
    ["Purpose", file.purpose],
    ["Size", format.bytes(file.bytes)],
    ["Status", badge(file.status, file.status === "error" ? "error" : file.status === "processed" ? "succeeded" : "")],
    ["Details", file.status_details ?? undefined],
    ["Created", format.dateTime(file.created_at)],
  ]);
}

function renderReport(report, onLine, charts) {
  const tokens = report.tokens;
  const spread = tokens.per_example;
  const parts = [
    h("div", { class: "grid-2" },
      facts([
        ["Format", report.format ?? "—"],
        ["Examples", format.integer(report.n_examples)],
        ["Trainable examples", format.integer(report.n_trainable_examples)],
        ["Truncated", format.integer(report.n_truncated)],
        ["Tokens", format.integer(tokens.total)],
        ["Trained tokens", format.integer(tokens.trained)],
        ["Max sequence length", format.integer(report.max_seq_length)],
      ]),
      spread ? tokensChart(report, charts) : h("p", { class: "empty" }, "No trainable examples."),
    ),
  ];
  const counts = Object.entries(report.issue_counts);
  if (counts.length) {
    parts.push(h("h3", {}, "Problems by kind"),
      h("ul", {}, counts.map(([code, count]) => h("li", {}, h("code", {}, code), `: ${count}`))));
  }
  parts.push(h("h3", {}, "First problems"), table(
    report.issues.length ? `The first ${report.issues.length} problems, by line` : "Problems",
    [["Line", "num"], ["Severity"], ["Code"], ["Message"]],
    report.issues.map((issue) => h("tr", { dataset: { line: issue.line } },
      h("td", { class: "num" }, h("button", { type: "button", class: "button-quiet", "aria-label": `Preview line ${issue.line}`, onclick: () => onLine(issue.line) }, String(issue.line))),
      h("td", {}, badge(issue.severity)),
      h("td", {}, h("code", {}, issue.code), issue.param ? h("div", { class: "hint" }, issue.param) : null),
      h("td", {}, issue.message))),
    "No problems found.",
  ));
  return h("div", { class: "report", dataset: { examples: report.n_examples } }, parts);
}

/** Tokens per example: the report's histogram, with the model's max sequence length marked and
 * the spread (min, median, p95, max) below. A report stored before histograms existed has only
 * the spread, drawn as four bars. */
function tokensChart(report, charts) {
  const { per_example: spread, histogram } = report.tokens;
  const chart = histogram
    ? new HistogramChart({
      title: "Tokens per example",
      edges: histogram.edges,
      counts: histogram.counts,
      unit: "tokens",
      countUnit: "examples",
      limit: sequenceLimit(report),
    })
    : new BarChart({
      title: "Tokens per example",
      bars: [["min", spread.min], ["median", spread.p50], ["p95", spread.p95], ["max", spread.max]],
      limit: { label: "max length", value: report.max_seq_length },
    });
  chart.element.dataset.chart = "tokens";
  if (histogram) {
    chart.element.append(h("p", { class: "hint" },
      `min ${format.integer(spread.min)}, median ${format.integer(spread.p50)}, ` +
      `p95 ${format.integer(spread.p95)}, max ${format.integer(spread.max)}`));
  }
  charts.push(chart);
  return chart.element;
}

/** Where truncation starts: a preference example is two sequences, each up to the max length. */
function sequenceLimit(report) {
  return report.format === "preference"
    ? { label: "2 × max length", value: 2 * report.max_seq_length }
    : { label: "max length", value: report.max_seq_length };
}

function renderPreview(preview) {
  const blocks = preview.sequences.map((sequence) => {
    const trained = sequence.tokens.filter((token) => token.trained).length;
    const text = h("div", { class: "mask-preview", dataset: { label: sequence.label } },
      sequence.tokens.map((token) => h(token.trained ? "mark" : "span", { class: "tok", title: `token ${token.id}` }, token.text)));
    return h("div", {},
      h("h3", {}, `Line ${preview.line}: ${sequence.label}`),
      h("p", { class: "hint" }, `${trained} of ${sequence.tokens.length} tokens trained${sequence.truncated ? "; truncated to the max sequence length" : ""}.`),
      text);
  });
  const issues = preview.issues.map((issue) => notice(`${issue.code}: ${issue.message}`, issue.severity === "error" ? "error" : "warning"));
  return h("div", {}, issues, blocks);
}
