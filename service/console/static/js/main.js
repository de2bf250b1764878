// The console shell: sign-in, navigation and a hash router (#/jobs, #/jobs/{id}, #/evals, ...).
// Each page is a module with ``render(context)`` returning ``{element, dispose?}``.

import { Api, ApiError } from "./api.js";
import { field, h, notice, replaceChildren } from "./dom.js";
import * as evalDetail from "./pages/eval.js";
import * as evals from "./pages/evals.js";
import * as jobDetail from "./pages/job.js";
import * as jobs from "./pages/jobs.js";
import * as fileDetail from "./pages/file.js";
import * as files from "./pages/files.js";
import * as models from "./pages/models.js";
import * as playground from "./pages/playground.js";

const ROUTES = [
  [/^\/jobs\/([^/]+)$/, jobDetail, "jobs"],
  [/^\/jobs$/, jobs, "jobs"],
  [/^\/files\/([^/]+)$/, fileDetail, "files"],
  [/^\/files$/, files, "files"],
  [/^\/evals\/([^/]+)$/, evalDetail, "evals"],
  [/^\/evals$/, evals, "evals"],
  [/^\/models$/, models, "models"],
  [/^\/playground$/, playground, "playground"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
const announcer = document.getElementById("announcer");
let current = null;
let signInMessage = null;

function announce(text) {
  announcer.textContent = "";
  // A fresh text node after a tick makes screen readers announce repeats too.
  setTimeout(() => { announcer.textContent = text; }, 50);
}

function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/jobs";
  const [path, search = ""] = raw.split("?");
  return { path, query: new URLSearchParams(search) };
}

function signOut(message = null) {
  Api.forgetKey();
  signInMessage = message;
  route();
}

function showSignIn() {
  nav.hidden = true;
  signOutButton.hidden = true;
  const input = h("input", { type: "password", name: "api_key", autocomplete: "off", required: true, spellcheck: "false" });
  const status = h("div", { role: "status" });
  if (signInMessage) status.append(notice(signInMessage, "error"));
  const form = h(
    "form",
    { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", {}, "Use an API key of your project. It is kept in this tab's session storage only."),
    field("API key", input, "Keys start with sk-; create one with `ftapi keys create`."),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    try {
      await new Api(key).get("/models");
      Api.storeKey(key);
      signInMessage = null;
      announce("Signed in.");
      route();
    } catch (error) {
      replaceChildren(status, notice(error instanceof ApiError ? error.message : String(error), "error"));
    }
  });
  replaceChildren(main, h("section", {}, form));
  document.title = "Sign in · ftapi console";
  input.focus();
}

function route() {
  current?.dispose?.();
  current = null;
  const key = Api.storedKey();
  if (!key) {
    showSignIn();
    return;
  }
  nav.hidden = false;
  signOutButton.hidden = false;
  const { path, query } = parseHash();
  const match = ROUTES.map(([pattern, page, section]) => [path.match(pattern), page, section]).find(([found]) => found);
  if (!match) {
    navigate("#/jobs");
    return;
  }
  const [found, page, section] = match;
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const api = new Api(key, () => signOut("Your API key was refused; sign in again."));
  const context = { api, params: found.slice(1).map(decodeURIComponent), query, navigate, announce };
  current = page.render(context);
  replaceChildren(main, current.element);
  document.title = `${current.title ?? section} · ftapi console`;
  main.focus({ preventScroll: true });
}

signOutButton.addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
route();
