// Playground: the same conversation sent to a fine-tuned model and to its base, side by side,
// each answer streamed from /v1/chat/completions.

import { field, h, notice, replaceChildren, select } from "../dom.js";
import { baseOfFineTuned } from "../format.js";

export function render({ api, query }) {
  const controller = new AbortController();
  let turn = null; // the AbortController of the answers being streamed
  const tunedModel = select([], { name: "model" });
  const baseModel = select([], { name: "base" });
  const system = h("textarea", { name: "system", rows: 2, placeholder: "optional" });
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: 1, max: 4096, value: 64 });
  const temperature = h("input", { type: "number", name: "temperature", min: 0, max: 2, step: 0.1, value: 0 });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "button-quiet", disabled: true }, "Stop");
  const clear = h("button", { type: "button", class: "button-quiet" }, "Clear");
  const status = h("div", { role: "status" });
  const sides = [side("tuned", "Fine-tuned", tunedModel), side("base", "Base", baseModel)];

  function side(key, label, picker) {
    const transcript = h("div", { class: "transcript", dataset: { side: key }, "aria-live": "off" });
    const title = h("h3", {}, label);
    const element = h("section", { "aria-label": `${label} model answers` }, title, transcript);
    return { key, label, picker, transcript, title, element, messages: [] };
  }

  function drawTitles() {
    for (const s of sides) s.title.textContent = `${s.label}: ${s.picker.value || "none"}`;
  }

  async function loadModels() {
    try {
      const models = (await api.get("/models", {}, controller.signal)).data;
      const wantedModel = query.get("model");
      const tuned = models.filter((model) => model.owned_by !== "system").map((model) => model.id);
      if (wantedModel && !tuned.includes(wantedModel)) tuned.unshift(wantedModel); // a checkpoint
      const bases = models.filter((model) => model.owned_by === "system").map((model) => model.id);
      replaceChildren(tunedModel, tuned.map((id) => h("option", { value: id }, id)));
      replaceChildren(baseModel, bases.map((id) => h("option", { value: id }, id)));
      if (wantedModel) tunedModel.value = wantedModel;
      pickBase(query.get("base"));
      if (tuned.length === 0) replaceChildren(status, notice("No fine-tuned model yet: the fine-tuned side stays empty.", "warning"));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(status, notice(error.message, "error"));
    }
  }

  function pickBase(wanted) {
    const base = wanted || baseOfFineTuned(tunedModel.value || "");
    if (base && [...baseModel.options].some((option) => option.value === base)) baseModel.value = base;
    drawTitles();
  }

  function addTurn(s, role, text) {
    const content = h("p", { class: "content" }, text);
    s.transcript.append(h("div", { class: `turn ${role}`, dataset: { role } }, h("span", { class: "role" }, role), content));
    return content;
  }

  async function answer(s, signal) {
    if (!s.picker.value) return;
    const messages = system.value.trim() ? [{ role: "system", content: system.value.trim() }] : [];
    const content = addTurn(s, "assistant", "");
    s.transcript.setAttribute("aria-busy", "true");
    content.dataset.streaming = "true";
    let text = "";
    try {
      const events = api.stream("POST", "/chat/completions", {
        body: {
          model: s.picker.value,
          messages: messages.concat(s.messages),
          stream: true,
          max_tokens: Number(maxTokens.value) || 64,
          temperature: Number(temperature.value),
        },
        signal,
      });
      for await (const message of events) {
        if (message.data === "[DONE]") break;
        const chunk = JSON.parse(message.data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices?.[0]?.delta?.content ?? "";
        if (delta) {
          text += delta;
          content.textContent = text;
          content.dataset.chunks = String(Number(content.dataset.chunks ?? 0) + 1);
        }
      }
      s.messages.push({ role: "assistant", content: text });
    } catch (error) {
      if (error.name === "AbortError") content.append(" [stopped]");
      else content.replaceWith(notice(error.message, "error"));
      s.messages.pop(); // the user turn without its answer would skew the next request
    } finally {
      content.dataset.streaming = "false";
      s.transcript.setAttribute("aria-busy", "false");
    }
  }

  const form = h("form", { class: "panel", "aria-labelledby": "playground-title" },
    h("h2", { id: "playground-title" }, "Compare a fine-tuned model with its base"),
    h("div", { class: "fields-row" }, field("Fine-tuned model", tunedModel), field("Base model", baseModel)),
    field("System message", system),
    field("Message", prompt, "Press Send (or Ctrl+Enter) to ask both models."),
    h("div", { class: "fields-row" }, field("Max tokens", maxTokens), field("Temperature", temperature)),
    h("div", { class: "actions" }, send, stop, clear),
    status);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text) {
      prompt.focus();
      return;
    }
    status.replaceChildren();
    turn = new AbortController();
    controller.signal.addEventListener("abort", () => turn?.abort(), { once: true });
    send.disabled = true;
    stop.disabled = false;
    for (const s of sides) {
      if (!s.picker.value) continue;
      s.messages.push({ role: "user", content: text });
      addTurn(s, "user", text);
    }
    prompt.value = "";
    await Promise.all(sides.map((s) => answer(s, turn.signal)));
    send.disabled = false;
    stop.disabled = true;
    prompt.focus();
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  stop.addEventListener("click", () => turn?.abort());
  clear.addEventListener("click", () => {
    for (const s of sides) {
      s.messages = [];
      s.transcript.replaceChildren();
    }
  });
  tunedModel.addEventListener("change", () => pickBase(null));
  baseModel.addEventListener("change", drawTitles);
  loadModels();

  const element = h("div", {},
    h("h1", {}, "Playground"),
    form,
    h("div", { class: "grid-2" }, sides.map((s) => s.element)));
  return { element, title: "Playground", dispose: () => controller.abort() };
}
