// Models: the deployment's base models and the project's fine-tuned ones (deletable) and their
// checkpoints (not deletable on their own: they go with their model, so they get no Delete).

import { modelPath } from "../api.js";
import { confirmDialog, h, notice, replaceChildren, table } from "../dom.js";
import * as format from "../format.js";

export function render({ api, announce }) {
  const controller = new AbortController();
  const baseRegion = h("div");
  const tunedRegion = h("div", { "aria-live": "polite" });
  const status = h("div", { role: "status" });

  async function remove(model) {
    const sure = await confirmDialog(
      `Delete ${model.id}? It stops answering at once; its adapter is removed after a grace period.`,
      "Delete model",
    );
    if (!sure) return;
    try {
      await api.delete(modelPath(model.id));
      replaceChildren(status, notice(`Deleted ${model.id}.`, "ok"));
      announce(`Deleted ${model.id}.`);
    } catch (error) {
      replaceChildren(status, notice(error.message, "error"));
    }
    load();
  }

  async function load() {
    try {
      const models = (await api.get("/models", {}, controller.signal)).data;
      const bases = models.filter((model) => model.owned_by === "system");
      const tuned = models.filter((model) => model.owned_by !== "system");
      replaceChildren(baseRegion, table("Base models of this deployment", [["Model"], ["Created"]],
        bases.map((model) => h("tr", {}, h("td", { class: "mono" }, model.id), h("td", {}, format.dateTime(model.created))))));
      replaceChildren(tunedRegion, table("Fine-tuned models and checkpoints of your project", [["Model"], ["Base"], ["Created"], ["Actions"]],
        tuned.map((model) => {
          const base = format.baseOfFineTuned(model.id) ?? "";
          const checkpoint = format.isCheckpoint(model.id);
          return h("tr", { dataset: { modelId: model.id, kind: checkpoint ? "checkpoint" : "model" } },
            h("td", { class: "mono" }, model.id),
            h("td", { class: "mono" }, base || "—"),
            h("td", {}, format.dateTime(model.created)),
            h("td", {}, h("div", { class: "actions" },
              h("a", { class: "button button-quiet", href: `#/playground?model=${encodeURIComponent(model.id)}&base=${encodeURIComponent(base)}` }, "Playground"),
              checkpoint
                ? h("span", { class: "hint" }, "Checkpoint: deleted with its model")
                : h("button", { type: "button", class: "button-danger", "aria-label": `Delete ${model.id}`, onclick: () => remove(model) }, "Delete"))));
        }),
        "No fine-tuned models yet: they appear when a job succeeds."));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(status, notice(error.message, "error"));
    }
  }
  load();

  const element = h("div", {},
    h("h1", {}, "Models"),
    status,
    h("section", { class: "panel", "aria-labelledby": "tuned-title" }, h("h2", { id: "tuned-title" }, "Fine-tuned models"), tunedRegion),
    h("section", { class: "panel", "aria-labelledby": "base-title" }, h("h2", { id: "base-title" }, "Base models"), baseRegion));
  return { element, title: "Models", dispose: () => controller.abort() };
}
