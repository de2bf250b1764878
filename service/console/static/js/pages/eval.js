// One eval: its testing criteria, its runs side by side (status, model, pass rate per criterion
// and overall, usage), and two runs compared: the change per criterion and the items on which
// they disagree, with each side's sample output and scores.

import { badge, facts, field, h, notice, replaceChildren, select, table } from "../dom.js";
import { allOutputItems, criterionNames, criterionRates, disagreements, overallRate, sampleText } from "../eval_compare.js";
import * as format from "../format.js";

const RUNS_PAGE_SIZE = 20;
const REFRESH_MS = 4000;
const ROWS_SHOWN_STEP = 25;
const ITEM_TEXT_CHARS = 300;

const STATUS_KIND = { completed: "succeeded", pass: "succeeded", canceled: "cancelled", fail: "failed", error: "error" };

function statusBadge(status) {
  return badge(status, STATUS_KIND[status] ?? status);
}

function rateText({ passed, graded, rate }) {
  return rate === null ? "—" : `${format.percent(passed, graded)} (${passed} of ${graded})`;
}

function runLabel(run) {
  const what = run.model || run.data_source?.type || "";
  return `${run.name || run.id} · ${what}`;
}

function sourceText(run) {
  const source = run.data_source ?? {};
  const inner = source.source?.type;
  return inner ? `${source.type} (${inner})` : source.type ?? "—";
}

function usageLines(run) {
  const usage = run.per_model_usage ?? [];
  if (usage.length === 0) return "—";
  return usage.map((model) => h("div", {},
    h("span", { class: "mono" }, model.model_name), `: ${format.integer(model.total_tokens)} tokens, ${format.integer(model.invocation_count)} calls`));
}

function criterionFacts(criterion) {
  const details = [criterion.type];
  if (criterion.operation) details.push(criterion.operation);
  if (criterion.evaluation_metric) details.push(criterion.evaluation_metric);
  if (criterion.model) details.push(criterion.model);
  if (criterion.pass_threshold !== undefined && criterion.pass_threshold !== null) details.push(`pass ≥ ${criterion.pass_threshold}`);
  return h("li", {}, h("strong", {}, criterion.name), ` — ${details.join(", ")}`);
}

function shortJson(value) {
  const text = JSON.stringify(value);
  return text.length > ITEM_TEXT_CHARS ? `${text.slice(0, ITEM_TEXT_CHARS)}…` : text;
}

/** One run's side of a disagreeing item: its status, what the model answered, each score. */
function itemSide(item) {
  return [
    statusBadge(item.status),
    h("p", { class: "sample-output" }, sampleText(item) || h("span", { class: "empty" }, "(no output)")),
    h("ul", { class: "results" }, (item.results ?? []).map((result) => h("li", { dataset: { passed: String(result.passed) } },
      `${result.name}: ${result.passed ? "passed" : "failed"}, score ${format.metric(result.score)}`))),
  ];
}

export function render({ api, params: [evalId], query }) {
  const controller = new AbortController();
  const signal = controller.signal;
  let runs = []; // newest first, as loaded
  let hasOlder = false;
  let comparison = null; // the AbortController of the comparison in progress
  let shownRows = ROWS_SHOWN_STEP;
  let drawnRows = [];

  const heading = h("h1", {}, evalId);
  const evalRegion = h("div", {}, h("p", { class: "empty" }, "Loading…"));
  const runsRegion = h("div", { "aria-live": "polite", "aria-busy": "true" });
  const loadOlder = h("button", { type: "button", class: "button-quiet", hidden: true }, "Load older runs");
  const runA = select([], { name: "run_a" });
  const runB = select([], { name: "run_b" });
  const compareButton = h("button", { type: "submit" }, "Compare");
  const compareStatus = h("div", { role: "status", class: "hint" });
  const deltaRegion = h("div");
  const itemsRegion = h("div", { "aria-live": "polite" });
  const showMore = h("button", { type: "button", class: "button-quiet", hidden: true }, "Show more items");

  async function loadEval() {
    try {
      const evaluation = await api.get(`/evals/${evalId}`, {}, signal);
      heading.textContent = evaluation.name || evalId;
      const schema = evaluation.data_source_config?.schema?.properties?.item?.properties ?? {};
      replaceChildren(evalRegion, facts([
        ["Id", h("span", { class: "mono" }, evaluation.id)],
        ["Created", format.dateTime(evaluation.created_at)],
        ["Item fields", Object.keys(schema).join(", ") || "—"],
        ["Testing criteria", h("ul", { class: "criteria" }, (evaluation.testing_criteria ?? []).map(criterionFacts))],
      ]));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(evalRegion, notice(error.message, "error"));
    }
  }

  /** Runs as columns, oldest on the left, one row per fact. */
  function drawRuns() {
    const shown = [...runs].reverse();
    const names = criterionNames(shown);
    const row = (label, cell, attrs = {}) => h("tr", attrs, h("td", { class: "row-label" }, label),
      shown.map((run) => cell(run)));
    const rateCell = (run, rate, key) => h("td", {
      class: "num",
      dataset: { runId: run.id, ...key, rate: rate.rate === null ? "" : String(rate.rate) },
    }, rateText(rate));
    const rows = [
      row("Run", (run) => h("td", { class: "mono", dataset: { runId: run.id } }, run.id)),
      row("Status", (run) => h("td", { dataset: { runId: run.id, status: run.status } }, statusBadge(run.status)), { dataset: { fact: "status" } }),
      row("Model", (run) => h("td", { class: "mono" }, run.model || "— (samples given)")),
      row("Data source", (run) => h("td", {}, sourceText(run))),
      row("Items graded", (run) => h("td", { class: "num" }, format.integer(run.result_counts?.total))),
      row("Overall pass rate", (run) => rateCell(run, overallRate(run), { overall: "true" })),
      names.map((name) => row(`Pass rate: ${name}`, (run) => {
        const rate = criterionRates(run).get(name) ?? { passed: 0, graded: 0, rate: null };
        return rateCell(run, rate, { criterion: name });
      })),
      row("Errored", (run) => h("td", { class: "num" }, format.integer(run.result_counts?.errored))),
      row("Usage", (run) => h("td", {}, usageLines(run))),
      row("Created", (run) => h("td", {}, format.dateTime(run.created_at))),
      row("Error", (run) => h("td", {}, run.error?.message ? `${run.error.message} (${run.error.code})` : "—")),
    ].flat();
    replaceChildren(runsRegion, table(
      `${shown.length} run${shown.length === 1 ? "" : "s"} side by side, oldest first`,
      [[""], ...shown.map((run) => [run.name || run.id])],
      shown.length ? rows : [],
      "No runs yet: start one with client.evals.runs.create or `ftapi evals run`.",
    ));
    runsRegion.setAttribute("aria-busy", "false");
    loadOlder.hidden = !hasOlder;
    drawPickers();
  }

  let drawnPickers = "";

  function drawPickers() {
    const options = [...runs].reverse().map((run) => [run.id, runLabel(run)]);
    // Redrawn only when the runs change: a redraw would close a picker the user has open.
    if (JSON.stringify(options) === drawnPickers) return;
    drawnPickers = JSON.stringify(options);
    for (const [picker, wanted] of [[runA, runA.value || query.get("a")], [runB, runB.value || query.get("b")]]) {
      replaceChildren(picker, options.map(([id, label]) => h("option", { value: id }, label)));
      if (wanted && runs.some((run) => run.id === wanted)) picker.value = wanted;
    }
    // By default the newest run against the one before it (e.g. fine-tuned against base).
    if (!query.get("b") && !runB.dataset.chosen && runs[0]) runB.value = runs[0].id;
    if (!query.get("a") && !runA.dataset.chosen && runs[1]) runA.value = runs[1].id;
  }

  async function loadRuns() {
    try {
      const page = await api.get(`/evals/${evalId}/runs`, { limit: RUNS_PAGE_SIZE, order: "desc" }, signal);
      const fresh = new Set(page.data.map((run) => run.id));
      const older = runs.slice(page.data.length).filter((run) => !fresh.has(run.id));
      if (older.length === 0) hasOlder = page.has_more;
      runs = page.data.concat(older);
      drawRuns();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(runsRegion, notice(error.message, "error"));
    }
  }

  async function refreshUnfinished() {
    const unfinished = runs.filter((run) => !format.TERMINAL_RUN_STATUSES.has(run.status));
    if (unfinished.length === 0) return;
    try {
      const fresh = await Promise.all(unfinished.map((run) => api.get(`/evals/${evalId}/runs/${run.id}`, {}, signal)));
      const byId = new Map(fresh.map((run) => [run.id, run]));
      runs = runs.map((run) => byId.get(run.id) ?? run);
      drawRuns();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(runsRegion, notice(error.message, "error"));
    }
  }

  loadOlder.addEventListener("click", async () => {
    try {
      const last = runs[runs.length - 1];
      const page = await api.get(`/evals/${evalId}/runs`, { limit: RUNS_PAGE_SIZE, order: "desc", after: last?.id }, signal);
      runs = runs.concat(page.data);
      hasOlder = page.has_more;
      drawRuns();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(runsRegion, notice(error.message, "error"));
    }
  });

  function drawDelta(a, b) {
    const names = criterionNames([a, b]);
    const ratesA = criterionRates(a);
    const ratesB = criterionRates(b);
    const none = { passed: 0, graded: 0, rate: null };
    const line = (label, rateA, rateB, key) => h("tr", { dataset: key },
      h("td", {}, label),
      h("td", { class: "num" }, rateText(rateA)),
      h("td", { class: "num" }, rateText(rateB)),
      h("td", { class: "num delta", dataset: { delta: format.pointsDelta(rateA.rate, rateB.rate) } }, format.pointsDelta(rateA.rate, rateB.rate)));
    replaceChildren(deltaRegion, table(
      `Pass rates: ${a.name || a.id} (A) against ${b.name || b.id} (B)`,
      [["Criterion"], ["Run A", "num"], ["Run B", "num"], ["Change (B − A)", "num"]],
      [
        ...names.map((name) => line(name, ratesA.get(name) ?? none, ratesB.get(name) ?? none, { criterion: name })),
        line("Overall (every criterion passed)", overallRate(a), overallRate(b), { overall: "true" }),
      ],
    ));
  }

  function drawItems() {
    const rows = drawnRows.slice(0, shownRows).map(({ id, a, b }) => h("tr", { dataset: { itemId: id } },
      h("td", {}, h("div", { class: "num" }, `#${id}`), h("code", { class: "item-json" }, shortJson(a.datasource_item))),
      h("td", { dataset: { side: "a" } }, itemSide(a)),
      h("td", { dataset: { side: "b" } }, itemSide(b))));
    replaceChildren(itemsRegion, table(
      `Items on which the runs disagree (${Math.min(shownRows, drawnRows.length)} of ${drawnRows.length} shown)`,
      [["Item"], ["Run A"], ["Run B"]],
      rows,
      "The two runs agree on every item graded in both.",
    ));
    showMore.hidden = drawnRows.length <= shownRows;
  }

  async function compare() {
    comparison?.abort();
    const a = runs.find((run) => run.id === runA.value);
    const b = runs.find((run) => run.id === runB.value);
    if (!a || !b) return;
    if (a.id === b.id) {
      replaceChildren(compareStatus, notice("Choose two different runs.", "warning"));
      return;
    }
    comparison = new AbortController();
    const compareSignal = comparison.signal;
    history.replaceState(null, "", `#/evals/${evalId}?a=${encodeURIComponent(a.id)}&b=${encodeURIComponent(b.id)}`);
    drawDelta(a, b);
    replaceChildren(itemsRegion);
    showMore.hidden = true;
    const read = { a: 0, b: 0 };
    const progress = () => { compareStatus.textContent = `Reading output items: ${read.a} of run A, ${read.b} of run B…`; };
    progress();
    itemsRegion.setAttribute("aria-busy", "true");
    try {
      const [itemsA, itemsB] = await Promise.all([
        allOutputItems(api, evalId, a.id, compareSignal, (n) => { read.a = n; progress(); }),
        allOutputItems(api, evalId, b.id, compareSignal, (n) => { read.b = n; progress(); }),
      ]);
      const { rows, both } = disagreements(itemsA, itemsB);
      drawnRows = rows;
      shownRows = ROWS_SHOWN_STEP;
      const onlyA = rows.filter((row) => row.a.status === "pass").length;
      const unfinished = [a, b].filter((run) => !format.TERMINAL_RUN_STATUSES.has(run.status));
      replaceChildren(compareStatus, h("p", { class: "disagreement-summary", dataset: { disagree: rows.length, both } },
        `${rows.length} of ${both} items graded in both runs disagree: ${onlyA} passed only in run A, ${rows.length - onlyA} only in run B.`,
        unfinished.length ? ` ${unfinished.map((run) => run.name || run.id).join(" and ")} ${unfinished.length === 1 ? "is" : "are"} still running: compare again for the rest.` : ""));
      drawItems();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(compareStatus, notice(error.message, "error"));
    } finally {
      itemsRegion.setAttribute("aria-busy", "false");
    }
  }

  const compareForm = h("form", { class: "panel", "aria-labelledby": "compare-title" },
    h("h2", { id: "compare-title" }, "Compare two runs"),
    h("div", { class: "fields-row" }, field("Run A", runA), field("Run B", runB)),
    h("div", { class: "actions" }, compareButton),
    compareStatus,
    deltaRegion,
    h("h3", {}, "Items on which they disagree"),
    h("p", { class: "hint" }, "Passed in one run, failed (or errored) in the other, matched by item."),
    itemsRegion,
    showMore);
  compareForm.addEventListener("submit", (event) => {
    event.preventDefault();
    compare();
  });
  for (const picker of [runA, runB]) {
    picker.addEventListener("change", () => {
      picker.dataset.chosen = "true";
      compare();
    });
  }
  showMore.addEventListener("click", () => {
    shownRows += ROWS_SHOWN_STEP;
    drawItems();
  });

  signal.addEventListener("abort", () => comparison?.abort(), { once: true });
  const timer = setInterval(refreshUnfinished, REFRESH_MS);
  loadEval();
  loadRuns().then(() => {
    if (runs.length >= 2) compare();
  });

  const element = h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/evals" }, "← All evals")),
    heading,
    h("section", { class: "panel", "aria-labelledby": "eval-title" }, h("h2", { id: "eval-title" }, "Eval"), evalRegion),
    h("section", { class: "panel", "aria-labelledby": "runs-title" },
      h("h2", { id: "runs-title" }, "Runs"),
      h("div", { class: "toolbar" }, h("button", { type: "button", class: "button-quiet", onclick: loadRuns }, "Refresh")),
      runsRegion,
      loadOlder),
    compareForm,
  );
  return {
    element,
    title: `Eval ${evalId}`,
    dispose() {
      clearInterval(timer);
      controller.abort();
    },
  };
}
