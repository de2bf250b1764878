// Evals: the project's evals, newest first, each linking to its runs side by side.

import { h, notice, replaceChildren, table } from "../dom.js";
import * as format from "../format.js";

const PAGE_SIZE = 20;

function criteriaSummary(evaluation) {
  return (evaluation.testing_criteria ?? []).map((criterion) => `${criterion.name} (${criterion.type})`).join(", ");
}

export function render({ api }) {
  const controller = new AbortController();
  let evals = [];
  let hasMore = false;
  const listRegion = h("div", { "aria-live": "polite", "aria-busy": "true" });
  const loadMore = h("button", { type: "button", class: "button-quiet", hidden: true }, "Load more");

  function evalRow(evaluation) {
    return h(
      "tr",
      { dataset: { evalId: evaluation.id } },
      h("td", {}, h("a", { href: `#/evals/${evaluation.id}` }, evaluation.name || evaluation.id),
        h("div", { class: "mono hint" }, evaluation.id)),
      h("td", {}, criteriaSummary(evaluation)),
      h("td", {}, format.dateTime(evaluation.created_at)),
    );
  }

  function drawList() {
    replaceChildren(listRegion, table(
      `${evals.length} eval${evals.length === 1 ? "" : "s"}, newest first`,
      [["Eval"], ["Testing criteria"], ["Created"]],
      evals.map(evalRow),
      "No evals yet: create one with the SDK (client.evals.create) or `ftapi evals create`.",
    ));
    listRegion.setAttribute("aria-busy", "false");
    loadMore.hidden = !hasMore;
  }

  async function refresh() {
    try {
      const page = await api.get("/evals", { limit: PAGE_SIZE, order: "desc" }, controller.signal);
      evals = page.data;
      hasMore = page.has_more;
      drawList();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(listRegion, notice(error.message, "error"));
    }
  }

  loadMore.addEventListener("click", async () => {
    try {
      const last = evals[evals.length - 1];
      const page = await api.get("/evals", { limit: PAGE_SIZE, order: "desc", after: last?.id }, controller.signal);
      evals = evals.concat(page.data);
      hasMore = page.has_more;
      drawList();
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(listRegion, notice(error.message, "error"));
    }
  });
  refresh();

  const element = h(
    "div",
    {},
    h("h1", {}, "Evals"),
    h(
      "section",
      { class: "panel", "aria-labelledby": "evals-list-title" },
      h("h2", { id: "evals-list-title" }, "Your evals"),
      h("p", { class: "hint" }, "Open an eval to see its runs side by side (e.g. a base model against its fine-tuned model) and the items two runs disagree on."),
      h("div", { class: "toolbar" }, h("button", { type: "button", class: "button-quiet", onclick: refresh }, "Refresh")),
      listRegion,
      loadMore,
    ),
  );
  return { element, title: "Evals", dispose: () => controller.abort() };
}
