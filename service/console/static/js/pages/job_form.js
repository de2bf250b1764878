// The form that creates a fine-tuning job. While it is filled in, the estimate endpoint says
// what ``auto`` hyperparameters resolve to, the trained tokens and time, and any problem.

import { ApiError } from "../api.js";
import { field, h, notice, replaceChildren, select } from "../dom.js";
import * as format from "../format.js";

const ESTIMATE_DEBOUNCE_MS = 500;
const HYPERPARAMETERS = [
  ["n_epochs", "Epochs", "integer"],
  ["batch_size", "Batch size", "integer"],
  ["learning_rate_multiplier", "Learning rate multiplier", "number"],
  ["beta", "Beta (DPO)", "number"],
];

/** The create-job form; ``onCreated(job)`` runs once the API has accepted it. */
export function createJobForm(api, signal, onCreated) {
  const model = select([], { name: "model", required: true });
  const training = select([], { name: "training_file", required: true });
  const validation = select([], { name: "validation_file" });
  const method = select([["supervised", "Supervised"], ["dpo", "DPO (preference pairs)"]], { name: "method" });
  const suffix = h("input", { type: "text", name: "suffix", maxlength: 64, placeholder: "optional" });
  const seed = h("input", { type: "number", name: "seed", min: 0, placeholder: "random" });
  const inputs = Object.fromEntries(
    HYPERPARAMETERS.map(([name, , kind]) => [
      name,
      h("input", { type: "text", name, inputmode: kind === "integer" ? "numeric" : "decimal", placeholder: "auto", autocomplete: "off" }),
    ]),
  );
  const betaField = field("Beta (DPO)", inputs.beta, "Only for DPO.");
  const estimateRegion = h("div", { class: "estimate", role: "status", "aria-live": "polite" },
    h("p", { class: "empty" }, "Pick a model and a training file to see what auto resolves to."));
  const status = h("div", { role: "status" });
  const submit = h("button", { type: "submit" }, "Create job");
  let estimateTimer = null;
  let estimateSeq = 0;

  async function loadChoices() {
    try {
      const [modelList, fileList] = await Promise.all([
        api.get("/models", {}, signal),
        api.get("/files", { purpose: "fine-tune", limit: 200 }, signal),
      ]);
      const processed = fileList.data.filter((file) => file.status === "processed");
      replaceChildren(model, modelList.data.map((m) => h("option", { value: m.id }, m.id)));
      replaceChildren(training, h("option", { value: "" }, "Choose a file…"),
        processed.map((file) => h("option", { value: file.id }, `${file.filename} (${file.id})`)));
      replaceChildren(validation, h("option", { value: "" }, "None"),
        processed.map((file) => h("option", { value: file.id }, `${file.filename} (${file.id})`)));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(status, notice(error.message, "error"));
    }
  }

  function hyperparameters() {
    const values = {};
    for (const [name, label, kind] of HYPERPARAMETERS) {
      if (name === "beta" && method.value !== "dpo") continue;
      const raw = inputs[name].value.trim();
      if (raw === "" || raw === "auto") {
        values[name] = "auto";
        continue;
      }
      const number = Number(raw);
      if (!Number.isFinite(number) || (kind === "integer" && !Number.isInteger(number))) {
        throw new Error(`${label} must be ${kind === "integer" ? "a whole number" : "a number"} or auto.`);
      }
      values[name] = number;
    }
    return values;
  }

  function body() {
    const request = {
      model: model.value,
      training_file: training.value,
      method: { type: method.value, [method.value]: { hyperparameters: hyperparameters() } },
    };
    if (validation.value) request.validation_file = validation.value;
    if (suffix.value.trim()) request.suffix = suffix.value.trim();
    if (seed.value !== "") request.seed = Number(seed.value);
    return request;
  }

  async function estimate() {
    if (!model.value || !training.value) return;
    const mine = ++estimateSeq;
    let request;
    try {
      request = body();
    } catch (error) {
      replaceChildren(estimateRegion, notice(error.message, "error"));
      return;
    }
    replaceChildren(estimateRegion, h("p", { class: "empty" }, "Estimating…"));
    try {
      const result = await api.post("/fine_tuning/estimate", request, signal);
      if (mine === estimateSeq) replaceChildren(estimateRegion, renderEstimate(result, request));
    } catch (error) {
      if (mine === estimateSeq && error.name !== "AbortError") replaceChildren(estimateRegion, notice(error.message, "error"));
    }
  }

  function scheduleEstimate() {
    betaField.hidden = method.value !== "dpo";
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(estimate, ESTIMATE_DEBOUNCE_MS);
  }

  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "create-job-title", novalidate: true },
    h("h2", { id: "create-job-title" }, "Create a job"),
    h("div", { class: "grid-2" },
      h("div", {},
        field("Model", model, "A base model, or one of your fine-tuned models to train further."),
        field("Training file", training, "Files with purpose fine-tune that passed validation."),
        field("Validation file", validation),
        field("Method", method),
        h("div", { class: "fields-row" }, field("Suffix", suffix), field("Seed", seed)),
      ),
      h("div", {},
        h("fieldset", {},
          h("legend", {}, "Hyperparameters (blank = auto)"),
          h("div", { class: "fields-row" },
            HYPERPARAMETERS.filter(([name]) => name !== "beta").map(([name, label]) => field(label, inputs[name])),
            betaField),
        ),
        h("h3", {}, "Estimate"),
        estimateRegion,
      ),
    ),
    h("div", { class: "actions" }, submit,
      h("button", { type: "button", class: "button-quiet", onclick: estimate }, "Estimate again")),
    status,
  );
  betaField.hidden = true;
  form.addEventListener("input", scheduleEstimate);
  form.addEventListener("change", scheduleEstimate);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!model.value || !training.value) {
      replaceChildren(status, notice("Choose a base model and a training file.", "error"));
      (model.value ? training : model).focus();
      return;
    }
    submit.disabled = true;
    try {
      const job = await api.post("/fine_tuning/jobs", body());
      onCreated(job);
    } catch (error) {
      const where = error instanceof ApiError && error.param ? ` (${error.param})` : "";
      replaceChildren(status, notice(`${error.message}${where}`, "error"));
    } finally {
      submit.disabled = false;
    }
  });
  loadChoices();
  return form;
}

function renderEstimate(result, request) {
  const hyper = result.hyperparameters;
  const asked = request.method[request.method.type].hyperparameters;
  const resolved = (name) => {
    if (!hyper || hyper[name] === null || hyper[name] === undefined) return "—";
    return `${format.metric(hyper[name])}${asked[name] === "auto" ? " (auto)" : ""}`;
  };
  const rows = [
    ["Epochs", resolved("n_epochs")],
    ["Batch size", resolved("batch_size")],
    ["Learning rate multiplier", resolved("learning_rate_multiplier")],
  ];
  if (request.method.type === "dpo") rows.push(["Beta", resolved("beta")]);
  rows.push(
    ["Estimated trained tokens", format.integer(result.estimated_trained_tokens)],
    ["Estimated duration", format.duration(result.estimated_duration_seconds)],
  );
  const dl = h("dl", { class: "facts", dataset: { ok: String(result.ok) } },
    rows.map(([term, value]) => [h("dt", {}, term), h("dd", { dataset: { term } }, value)]));
  const problems = result.problems.map((problem) =>
    h("li", {}, h("code", {}, problem.code), problem.param ? ` (${problem.param})` : "", `: ${problem.message}`));
  return h("div", {},
    result.ok ? notice("The job would start with these values.", "ok") : notice("This job would fail:", "error"),
    problems.length ? h("ul", { class: "problems" }, problems) : null,
    dl);
}
