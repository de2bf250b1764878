// Files: upload with progress (one request, or the Uploads API in parts for large files) and
// the project's files.

import { badge, confirmDialog, field, h, notice, replaceChildren, select, table } from "../dom.js";
import * as format from "../format.js";
import { PARTS_THRESHOLD_BYTES, uploadInParts, uploadWhole } from "../upload.js";

const PURPOSES = ["fine-tune", "batch", "user_data", "assistants", "vision", "evals"];
const REFRESH_MS = 4000;

export function render({ api, announce }) {
  const controller = new AbortController();
  const listRegion = h("div", { "aria-live": "polite" });

  async function refresh() {
    try {
      const page = await api.get("/files", { limit: 200 }, controller.signal);
      const rows = page.data.map((file) => h("tr", { dataset: { fileId: file.id } },
        h("td", {}, h("a", { href: `#/files/${file.id}` }, file.filename), h("div", { class: "mono hint" }, file.id)),
        h("td", {}, file.purpose),
        h("td", { class: "num" }, format.bytes(file.bytes)),
        h("td", {}, badge(file.status, file.status === "error" ? "error" : file.status === "processed" ? "succeeded" : "")),
        h("td", {}, format.dateTime(file.created_at)),
        h("td", {}, h("button", {
          type: "button",
          class: "button-quiet",
          "aria-label": `Delete ${file.filename}`,
          onclick: async () => {
            if (!(await confirmDialog(`Delete ${file.filename} (${file.id})?`, "Delete file"))) return;
            try {
              await api.delete(`/files/${file.id}`);
              announce(`Deleted ${file.filename}.`);
            } catch (error) {
              replaceChildren(listRegion, notice(error.message, "error"));
            }
            refresh();
          },
        }, "Delete")),
      ));
      replaceChildren(listRegion, table(`${page.data.length} files, newest first`,
        [["File"], ["Purpose"], ["Size", "num"], ["Status"], ["Created"], ["Actions"]], rows, "No files yet."));
    } catch (error) {
      if (error.name !== "AbortError") replaceChildren(listRegion, notice(error.message, "error"));
    }
  }

  const uploadForm = uploadSection(api, (file) => {
    refresh();
    announce(`Uploaded ${file.filename}.`);
  });
  const timer = setInterval(refresh, REFRESH_MS);
  refresh();

  const element = h("div", {},
    h("h1", {}, "Files"),
    uploadForm,
    h("section", { class: "panel", "aria-labelledby": "files-title" },
      h("h2", { id: "files-title" }, "Your files"), listRegion));
  return {
    element,
    title: "Files",
    dispose() {
      clearInterval(timer);
      controller.abort();
    },
  };
}

function uploadSection(api, onUploaded) {
  const input = h("input", { type: "file", name: "file", required: true, accept: ".jsonl,.json,application/jsonl,application/json" });
  const purpose = select(PURPOSES.map((p) => [p]), { name: "purpose" });
  const inParts = h("input", { type: "checkbox", name: "in_parts" });
  const progress = h("progress", { max: 100, value: 0, "aria-label": "Upload progress" });
  const progressText = h("span", { "aria-live": "polite" }, "");
  const status = h("div", { role: "status" });
  const submit = h("button", { type: "submit" }, "Upload");
  const progressBlock = h("div", { class: "field", hidden: true }, progress, progressText);

  input.addEventListener("change", () => {
    const file = input.files[0];
    inParts.checked = Boolean(file && file.size > PARTS_THRESHOLD_BYTES);
  });

  const form = h("form", { class: "panel", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload a file"),
    h("div", { class: "fields-row" },
      field("File", input, "JSONL: one training example per line."),
      field("Purpose", purpose)),
    h("div", { class: "field" }, h("label", { class: "check" }, inParts,
      `Send in parts with the Uploads API (chosen for files over ${format.bytes(PARTS_THRESHOLD_BYTES)})`)),
    progressBlock,
    h("div", { class: "actions" }, submit),
    status);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) {
      replaceChildren(status, notice("Choose a file to upload.", "error"));
      input.focus();
      return;
    }
    submit.disabled = true;
    status.replaceChildren();
    progressBlock.hidden = false;
    const onProgress = (sent, total) => {
      const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
      progress.value = percent;
      progressText.textContent = `${percent}% (${format.bytes(sent)} of ${format.bytes(total)})`;
    };
    try {
      const send = inParts.checked ? uploadInParts : uploadWhole;
      const created = await send(api, file, purpose.value, onProgress);
      onProgress(file.size, file.size);
      replaceChildren(status, h("p", { class: "notice ok", dataset: { fileId: created.id } },
        `Uploaded ${created.filename} as ${created.id}. `,
        h("a", { href: `#/files/${created.id}` }, "See its dataset report and mask preview")));
      form.reset();
      onUploaded(created);
    } catch (error) {
      replaceChildren(status, notice(error.message, "error"));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
