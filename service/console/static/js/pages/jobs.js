// Jobs: the list, filterable by status, and the form that creates a job (job_form.js).

import { badge, field, h, notice, replaceChildren, select, table } from "../dom.js";
import * as format from "../format.js";
import { createJobForm } from "./job_form.js";

const STATUSES = ["validating_files", "queued", "paused", "running", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 4000;

export function render({ api, navigate, announce }) {
  const controller = new AbortController();
  let jobs = [];
  let hasMore = false;
  const filter = select([["", "All statuses"], ...STATUSES.map((s) => [s, s])], { name: "status" });
  const listRegion = h("div", { "aria-live": "polite", "aria-busy": "true" });
  const loadMore = h("button", { type: "button", class: "button-quiet", hidden: true }, "Load more");

  function jobRow(job) {
    const status = format.jobStatus(job);
    return h(
      "tr",
      { dataset: { jobId: job.id, status } },
      h("td", {}, h("a", { href: `#/jobs/${job.id}`, class: "mono" }, job.id)),
      h("td", {}, badge(status)),
      h("td", { class: "mono" }, job.model, job.fine_tuned_model ? h("div", {}, "→ ", job.fine_tuned_model) : null),
      h("td", {}, format.dateTime(job.created_at)),
      h("td", { class: "num" }, format.duration(format.jobDuration(job))),
      h("td", { class: "num" }, format.integer(job.trained_tokens)),
    );
  }

  function drawList() {
    const wanted = filter.value;
    const shown = jobs.filter((job) => !wanted || format.jobStatus(job) === wanted);
    replaceChildren(
      listRegion,
      table(
        `${shown.length} job${shown.length === 1 ? "" : "s"}${wanted ? ` with status ${wanted}` : ""}`,
        [["Job"], ["Status"], ["Model"], ["Created"], ["Duration", "num"], ["Trained tokens", "num"]],
        shown.map(jobRow),
        wanted ? `No ${wanted} jobs.` : "No jobs yet: create one below.",
      ),
    );
    listRegion.setAttribute("aria-busy", "false");
    loadMore.hidden = !hasMore;
  }

  async function refresh() {
    try {
      // The API filters by metadata only; the status filter is applied to the pages loaded.
      const limit = Math.min(100, Math.max(20, jobs.length));
      const page = await api.get("/fine_tuning/jobs", { limit }, controller.signal);
      const fresh = new Set(page.data.map((job) => job.id));
      const older = jobs.slice(page.data.length).filter((job) => !fresh.has(job.id));
      if (older.length === 0) hasMore = page.has_more;
      jobs = page.data.concat(older);
      drawList();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(listRegion, notice(error.message, "error"));
    }
  }

  loadMore.addEventListener("click", async () => {
    const last = jobs[jobs.length - 1];
    const page = await api.get("/fine_tuning/jobs", { limit: 50, after: last?.id });
    jobs = jobs.concat(page.data);
    hasMore = page.has_more;
    drawList();
  });
  filter.addEventListener("change", drawList);

  const timer = setInterval(refresh, REFRESH_MS);
  refresh();

  const form = createJobForm(api, controller.signal, (job) => {
    announce(`Created job ${job.id}.`);
    navigate(`#/jobs/${job.id}`);
  });

  const element = h(
    "div",
    {},
    h("h1", {}, "Fine-tuning jobs"),
    h(
      "section",
      { class: "panel", "aria-labelledby": "jobs-list-title" },
      h("h2", { id: "jobs-list-title" }, "Jobs"),
      h("div", { class: "toolbar" }, field("Filter by status", filter),
        h("button", { type: "button", class: "button-quiet", onclick: refresh }, "Refresh")),
      listRegion,
      loadMore,
    ),
    form,
  );
  return {
    element,
    title: "Jobs",
    dispose() {
      clearInterval(timer);
      controller.abort();
    },
  };
}
