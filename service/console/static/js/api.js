// The /v1 client: the API key from sign-in (session storage only) as a Bearer header, errors
// from OpenAI's envelope, SSE over fetch, and uploads with progress.

import { readServerSentEvents } from "./sse.js";

const KEY_STORAGE = "ftapi.console.apiKey";
const BASE = "/v1";

/** An error answered by the API, from its ``{"error": {message, type, param, code}}`` envelope. */
export class ApiError extends Error {
  constructor(status, envelope) {
    const error = envelope?.error ?? {};
    super(error.message || `The API answered ${status}.`);
    this.status = status;
    this.code = error.code ?? null;
    this.param = error.param ?? null;
    this.type = error.type ?? null;
  }
}

async function errorOf(response) {
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  return new ApiError(response.status, envelope);
}

export class Api {
  constructor(key, onUnauthorized = () => {}) {
    this.key = key;
    this.onUnauthorized = onUnauthorized;
  }

  static storedKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  static storeKey(key) {
    sessionStorage.setItem(KEY_STORAGE, key);
  }

  static forgetKey() {
    sessionStorage.removeItem(KEY_STORAGE);
  }

  url(path, query) {
    const url = new URL(BASE + path, window.location.origin);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    return url;
  }

  headers(extra = {}) {
    return { authorization: `Bearer ${this.key}`, ...extra };
  }

  async fetch(method, path, { query, body, signal, headers } = {}) {
    const init = { method, headers: this.headers(headers), signal, cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const response = await fetch(this.url(path, query), init);
    if (!response.ok) {
      const error = await errorOf(response);
      if (response.status === 401) this.onUnauthorized(error);
      throw error;
    }
    return response;
  }

  async json(method, path, options) {
    return (await this.fetch(method, path, options)).json();
  }

  get(path, query, signal) {
    return this.json("GET", path, { query, signal });
  }

  post(path, body, signal) {
    return this.json("POST", path, { body: body ?? {}, signal });
  }

  delete(path) {
    return this.json("DELETE", path);
  }

  /** Yields the SSE events of a GET or POST whose answer is ``text/event-stream``. */
  async *stream(method, path, { query, body, signal, headers } = {}) {
    const response = await this.fetch(method, path, {
      query, body, signal, headers: { accept: "text/event-stream", ...headers },
    });
    yield* readServerSentEvents(response);
  }

  /** POST multipart ``form`` with XHR, whose upload events give progress (fetch has none). */
  postForm(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url(path));
      xhr.setRequestHeader("authorization", `Bearer ${this.key}`);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
        else {
          const error = new ApiError(xhr.status, xhr.response);
          if (xhr.status === 401) this.onUnauthorized(error);
          reject(error);
        }
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, { error: { message: "The upload failed: network error." } })));
      xhr.addEventListener("abort", () => reject(new ApiError(0, { error: { message: "The upload was cancelled." } })));
      xhr.send(form);
    });
  }
}

/** ``/models/{id}``: ids hold ``:`` and ``/``, both sent encoded. */
export function modelPath(modelId) {
  return `/models/${encodeURIComponent(modelId)}`;
}
