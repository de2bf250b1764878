// Job detail: live loss, accuracy, learning-rate and in-job eval charts fed by the SSE event
// stream, the evaluation's base vs tuned table, the checkpoints with their metrics (the best one
// marked), the event log, hyperparameters, the error, and the controls.

import { ApiError } from "../api.js";
import { LineChart } from "../chart.js";
import { badge, confirmDialog, facts, h, notice, replaceChildren, table } from "../dom.js";
import * as format from "../format.js";
import { evaluationView, gradedMetricKeys, metricLabel } from "../job_eval.js";

const JOB_REFRESH_MS = 3000;
const MAX_RECONNECT_DELAY_MS = 10000;

function playgroundHash(model, base) {
  return `#/playground?model=${encodeURIComponent(model)}&base=${encodeURIComponent(base)}`;
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

export function render({ api, params: [jobId], announce }) {
  const controller = new AbortController();
  const signal = controller.signal;
  const seenEvents = new Set();
  let job = null;
  // The alert is redrawn only when the error changes: a re-inserted role=alert is announced again.
  let drawnError = "";

  const charts = {
    loss: new LineChart({
      title: "Loss",
      series: [
        { key: "train_loss", label: "Training" },
        { key: "valid_loss", label: "Validation" },
        { key: "full_valid_loss", label: "Full validation" },
      ],
    }),
    accuracy: new LineChart({
      title: "Token accuracy",
      series: [
        { key: "train_mean_token_accuracy", label: "Training" },
        { key: "valid_mean_token_accuracy", label: "Validation" },
        { key: "full_valid_mean_token_accuracy", label: "Full validation" },
      ],
    }),
    learningRate: new LineChart({ title: "Learning rate", series: [{ key: "learning_rate", label: "Learning rate" }] }),
    // The graders' scores per evaluated checkpoint (the defaults' or the job's own graders', a
    // line each as they first arrive); the base model's at step 0.
    evaluation: new LineChart({ title: "Validation answers (generated)", series: [] }),
  };
  charts.loss.element.dataset.chart = "loss";
  charts.accuracy.element.dataset.chart = "accuracy";
  charts.learningRate.element.dataset.chart = "learning-rate";
  charts.evaluation.element.dataset.chart = "evaluation";
  charts.evaluation.element.hidden = true; // until the job is known to have a validation file

  const heading = h("h1", { class: "mono" }, jobId);
  const statusBadge = h("span", { id: "job-status", "aria-live": "polite" });
  const actions = h("div", { class: "actions" });
  const actionStatus = h("div", { role: "status" });
  const summary = h("div");
  const errorRegion = h("div");
  const checkpointsRegion = h("div", { "aria-live": "polite" });
  const evaluationRegion = h("div", { "aria-live": "polite" });
  const evaluationPanel = h("section", { class: "panel", "aria-labelledby": "evaluation-title", hidden: true },
    h("h2", { id: "evaluation-title" }, "Evaluation"), evaluationRegion);
  const eventLog = h("ol", { class: "event-log", role: "log", "aria-label": "Job events", tabindex: 0 });
  const streamState = h("p", { class: "hint", role: "status" }, "Connecting to the event stream…");

  function drawJob() {
    const status = format.jobStatus(job);
    replaceChildren(statusBadge, badge(status));
    statusBadge.dataset.status = status;
    const method = job.method ?? { type: "supervised" };
    const methodHyper = method[method.type]?.hyperparameters ?? {};
    const hyper = job.hyperparameters;
    const tryModel = job.fine_tuned_model
      ? [h("span", { class: "mono" }, job.fine_tuned_model), " ",
        h("a", { href: playgroundHash(job.fine_tuned_model, job.model), class: "button button-quiet" }, "Try in playground")]
      : null;
    replaceChildren(
      summary,
      h("div", { class: "grid-2" },
        h("div", {}, h("h2", {}, "Job"), facts([
          ["Model", h("span", { class: "mono" }, job.model)],
          ["Fine-tuned model", tryModel],
          ["Training file", h("a", { href: `#/files/${job.training_file}`, class: "mono" }, job.training_file)],
          ["Validation file", job.validation_file ? h("a", { href: `#/files/${job.validation_file}`, class: "mono" }, job.validation_file) : null],
          ["Created", format.dateTime(job.created_at)],
          ["Finished", job.finished_at ? format.dateTime(job.finished_at) : null],
          ["Duration", format.duration(format.jobDuration(job))],
          ["Trained tokens", format.integer(job.trained_tokens)],
          ["Suffix", job.user_provided_suffix],
        ])),
        h("div", {}, h("h2", {}, "Hyperparameters"), facts([
          ["Method", method.type],
          ["Epochs", String(hyper.n_epochs)],
          ["Batch size", String(hyper.batch_size)],
          ["Learning rate multiplier", String(hyper.learning_rate_multiplier)],
          ["Beta", method.type === "dpo" ? String(methodHyper.beta ?? "auto") : undefined],
          ["Seed", String(job.seed)],
        ])),
      ),
    );
    const error = job.error ? JSON.stringify(job.error) : "";
    if (error !== drawnError) {
      drawnError = error;
      replaceChildren(errorRegion, job.error && h("section", { class: "notice error", role: "alert", "aria-labelledby": "job-error-title" },
        h("h2", { id: "job-error-title" }, "The job failed"),
        facts([
          ["Code", h("code", {}, job.error.code)],
          ["Parameter", job.error.param ? h("code", {}, job.error.param) : undefined],
          ["What happened and what to do", job.error.message],
        ])));
    }
    drawActions(status);
    drawEvaluation();
  }

  function drawEvaluation() {
    // Only a job with a validation file is evaluated (see the README's "How a job runs").
    const evaluated = Boolean(job.validation_file);
    evaluationPanel.hidden = !evaluated;
    charts.evaluation.element.hidden = !evaluated;
    if (!evaluated) return;
    const link = (name) => h("a", { href: playgroundHash(name, job.model), class: "mono" }, name);
    replaceChildren(evaluationRegion, evaluationView(job.eval_summary, link));
  }

  function drawActions(status) {
    const buttons = [];
    const act = (label, path, confirmText) => h("button", {
      type: "button",
      class: label === "Cancel job" ? "button-danger" : "button-quiet",
      onclick: async () => {
        if (confirmText && !(await confirmDialog(confirmText, label))) return;
        try {
          job = await api.post(`/fine_tuning/jobs/${jobId}/${path}`);
          announce(`Job ${format.jobStatus(job)}.`);
          drawJob();
        } catch (error) {
          replaceChildren(actionStatus, notice(error.message, "error"));
        }
      },
    }, label);
    if (status === "paused") buttons.push(act("Resume", "resume"));
    if (status === "running" || status === "queued") buttons.push(act("Pause", "pause"));
    if (!format.TERMINAL_STATUSES.has(status)) {
      buttons.push(act("Cancel job", "cancel", "Cancel this job? A running trainer is stopped and the job cannot be resumed."));
    }
    replaceChildren(actions, buttons);
  }

  // Replaying a stream asks for many reloads at once: one request at a time, plus one more if
  // anything asked while it was in flight.
  let jobLoad = null;
  let jobReloadWanted = false;

  async function fetchJob() {
    try {
      job = await api.get(`/fine_tuning/jobs/${jobId}`, {}, signal);
      drawJob();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(summary, notice(error.message, "error"));
    }
  }

  function loadJob() {
    if (jobLoad) {
      jobReloadWanted = true;
      return jobLoad;
    }
    jobLoad = (async () => {
      do {
        jobReloadWanted = false;
        await fetchJob();
      } while (jobReloadWanted && !signal.aborted);
      jobLoad = null;
    })();
    return jobLoad;
  }

  async function loadCheckpoints() {
    try {
      const page = await api.get(`/fine_tuning/jobs/${jobId}/checkpoints`, { limit: 100 }, signal);
      const rows = page.data.map((checkpoint) => h("tr", { dataset: { step: checkpoint.step_number, best: Boolean(checkpoint.is_best) } },
        h("td", { class: "num" }, String(checkpoint.step_number)),
        h("td", { class: "mono" }, checkpoint.fine_tuned_model_checkpoint,
          checkpoint.is_best ? [" ", badge("best", "succeeded")] : null),
        h("td", {}, Object.entries(checkpoint.metrics).map(([name, value]) => h("div", {}, `${name} ${format.metric(value)}`))),
        h("td", {}, format.dateTime(checkpoint.created_at)),
        h("td", {}, h("a", {
          class: "button button-quiet",
          href: playgroundHash(checkpoint.fine_tuned_model_checkpoint, job?.model ?? ""),
          "aria-label": `Try the checkpoint at step ${checkpoint.step_number} in the playground`,
        }, "Try in playground")),
      ));
      replaceChildren(checkpointsRegion, table("Checkpoints, newest first",
        [["Step", "num"], ["Model"], ["Metrics"], ["Created"], ["Playground"]], rows, "No checkpoints yet."));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(checkpointsRegion, notice(error.message, "error"));
    }
  }

  function logEvent(event) {
    const nearBottom = eventLog.scrollHeight - eventLog.scrollTop - eventLog.clientHeight < 40;
    eventLog.append(h("li", { class: event.level, dataset: { type: event.type } },
      h("time", { datetime: new Date(event.created_at * 1000).toISOString() }, format.clock(event.created_at)),
      event.message));
    if (nearBottom) eventLog.scrollTop = eventLog.scrollHeight;
  }

  function onEvent(event) {
    if (seenEvents.has(event.id)) return;
    seenEvents.add(event.id);
    logEvent(event);
    if (event.data?.phase === "base" && event.data.metrics) {
      for (const key of gradedMetricKeys(event.data.metrics)) {
        charts.evaluation.ensureSeries(key, capitalized(metricLabel(key)));
        charts.evaluation.add(key, 0, Number(event.data.metrics[key]));
      }
    }
    if (event.type === "metrics" && event.data) {
      const step = event.data.step;
      for (const key of gradedMetricKeys(event.data)) charts.evaluation.ensureSeries(key, capitalized(metricLabel(key)));
      for (const chart of Object.values(charts)) {
        for (const line of chart.series) {
          if (line.key in event.data) chart.add(line.key, step, Number(event.data[line.key]));
        }
      }
    } else {
      loadJob();
      if (event.message.startsWith("Checkpoint")) loadCheckpoints();
    }
  }

  async function follow() {
    let lastId = null;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const headers = lastId ? { "last-event-id": lastId } : {};
        const events = api.stream("GET", `/fine_tuning/jobs/${jobId}/events`, { query: { stream: "true" }, headers, signal });
        streamState.textContent = "Live: following the job's events.";
        for await (const message of events) {
          failures = 0;
          if (message.event === "done") {
            streamState.textContent = "The job has ended; its stream is closed.";
            for (const chart of Object.values(charts)) {
              chart.emptyMessage = "No metrics were recorded.";
              chart.schedule();
            }
            await Promise.all([loadJob(), loadCheckpoints()]);
            return;
          }
          if (message.id) lastId = message.id;
          onEvent(JSON.parse(message.data));
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          streamState.textContent = `The event stream was refused: ${error.message}`;
          return;
        }
        failures += 1;
      }
      streamState.textContent = "Disconnected from the event stream; reconnecting…";
      await sleep(Math.min(MAX_RECONNECT_DELAY_MS, 500 * 2 ** failures), signal);
    }
  }

  const timer = setInterval(() => {
    if (job && !format.TERMINAL_STATUSES.has(job.status)) loadJob();
  }, JOB_REFRESH_MS);
  loadJob().then(loadCheckpoints);
  follow();

  const element = h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    heading,
    h("div", { class: "toolbar" }, statusBadge, actions),
    actionStatus,
    errorRegion,
    h("section", { class: "panel", "aria-labelledby": "metrics-title" },
      h("h2", { id: "metrics-title" }, "Metrics"),
      streamState,
      h("div", { class: "grid-2" }, charts.loss.element, charts.accuracy.element, charts.learningRate.element,
        charts.evaluation.element)),
    evaluationPanel,
    h("section", { class: "panel" }, summary),
    h("section", { class: "panel", "aria-labelledby": "checkpoints-title" },
      h("h2", { id: "checkpoints-title" }, "Checkpoints"), checkpointsRegion),
    h("section", { class: "panel", "aria-labelledby": "events-title" },
      h("h2", { id: "events-title" }, "Events"), eventLog),
  );
  return {
    element,
    title: `Job ${jobId}`,
    dispose() {
      clearInterval(timer);
      controller.abort();
      for (const chart of Object.values(charts)) chart.dispose();
    },
  };
}
