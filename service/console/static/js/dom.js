// DOM building without innerHTML: every string from the API lands in a text node.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" || name === "checked") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let nextId = 0;

/** A unique id for label/aria wiring. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form field: the label, the control and an optional hint tied by aria-describedby. */
export function field(labelText, control, hint) {
  control.id ||= uid("f");
  const children = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    children.splice(1, 0, h("span", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, children);
}

export function select(options, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map(([value, text]) => h("option", { value }, text ?? value)),
  );
}

/** A table in a horizontally scrolling wrapper (wide tables never widen the page). Each cell
 * carries its column's header in ``data-label``, which phones show when rows become cards; the
 * explicit ARIA roles keep the table semantics that ``display: block`` would drop. */
export function table(caption, headers, rows, emptyText = "Nothing here yet.") {
  const head = h("thead", { role: "rowgroup" }, h("tr", { role: "row" },
    headers.map(([text, cls]) => h("th", { scope: "col", role: "columnheader", class: cls }, text))));
  const body = h("tbody", { role: "rowgroup" });
  if (rows.length === 0) {
    body.append(h("tr", { role: "row" }, h("td", { role: "cell", colspan: headers.length, class: "empty" }, emptyText)));
  }
  for (const row of rows) {
    row.setAttribute("role", "row");
    [...row.children].forEach((cell, index) => {
      cell.setAttribute("role", "cell");
      if (headers[index]) cell.dataset.label = headers[index][0];
    });
    body.append(row);
  }
  return h("div", { class: "table-wrap" }, h("table", { role: "table" }, h("caption", {}, caption), head, body));
}

export function notice(text, kind = "") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, text);
}

export function badge(text, kind = text) {
  return h("span", { class: `badge ${kind}` }, text);
}

export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, value]) => value !== undefined).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "—")]),
  );
}

/** Ask a yes/no question in a modal <dialog> (focus is trapped and restored by the browser). */
export function confirmDialog(question, confirmText) {
  return new Promise((resolve) => {
    const labelId = uid("dialog");
    const dialog = h(
      "dialog",
      { "aria-labelledby": labelId },
      h("form", { method: "dialog" },
        h("p", { id: labelId }, question),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "button-quiet", autofocus: true }, "Cancel"),
          h("button", { value: "confirm", class: "button-danger" }, confirmText),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
