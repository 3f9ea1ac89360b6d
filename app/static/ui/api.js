// Calls to the service (same origin only) and the page's one error line.

const KEY_STORAGE = "d2l-serve.api-key";
const ADMIN_STORAGE = "d2l-serve.admin-key";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY_STORAGE, value);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export function adminKey() {
  return sessionStorage.getItem(ADMIN_STORAGE) || "";
}

export function setAdminKey(value) {
  if (value) sessionStorage.setItem(ADMIN_STORAGE, value);
  else sessionStorage.removeItem(ADMIN_STORAGE);
}

/** The keys a request carries: the API key, and the admin key for the operator's calls. */
export function keyHeaders(admin = false) {
  const headers = {};
  if (apiKey()) headers["X-API-Key"] = apiKey();
  if (admin && adminKey()) headers["X-Admin-Key"] = adminKey();
  return headers;
}

/** `detail` in plain words: a sentence, or for a 422 each invalid field's message. */
export function describeError(status, body) {
  let detail = body && typeof body === "object" ? body.detail : undefined;
  if (Array.isArray(body?.errors) && body.errors.length && !detail) {
    detail = body.errors.map((item) => item.msg).join("; ");
  }
  if (Array.isArray(detail)) detail = detail.map((item) => item.msg).join("; ");
  if (typeof detail !== "string" || !detail) detail = `the service answered ${status}`;
  if (status === 401 && detail.includes("X-Admin-Key")) return `${detail} (enter it in the Admin key box)`;
  if (status === 401) return `${detail} (enter the key in the API key box at the top)`;
  if (status === 503) return `Busy or not ready: ${detail}`;
  return detail;
}

/** fetch with the API key, JSON in and out; a non-2xx answer throws ApiError. */
export async function call(path, { method = "GET", json, form, admin = false } = {}) {
  const headers = keyHeaders(admin);
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiError(0, "The service could not be reached: is it still running?", null);
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, describeError(response.status, data), data);
  return data;
}

const errorLine = () => document.querySelector('[data-testid="error"]');

export function showError(error) {
  const line = errorLine();
  line.textContent = error instanceof Error ? error.message : String(error);
  line.hidden = false;
}

export function clearError() {
  const line = errorLine();
  line.textContent = "";
  line.hidden = true;
}

/** Run `work`, showing its failure on the error line; resolves to its value or undefined. */
export async function guarded(work) {
  clearError();
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

export const $ = (testid, root = document) => root.querySelector(`[data-testid="${testid}"]`);

export function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/** A bar of a list: label, value and a bar as wide as `fraction` of the row. */
export function bar(testid, label, value, fraction, data) {
  const item = element("li", { "data-testid": testid, ...data });
  item.append(element("span", { class: "label" }, label));
  const track = element("span", { class: "track" });
  const fill = element("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  track.append(fill);
  item.append(track, element("span", { class: "value" }, value.toFixed(3)));
  return item;
}

/** Model names of one task from /models, into a <select>: the service's default first
 * chosen, a choice the user made kept while it is still offered. */
export function fillModels(select, models, task) {
  const previous = select.value;
  const offered = models.filter((model) => model.task === task);
  select.replaceChildren(
    ...offered.map((model) => {
      const option = element("option", { value: model.name }, model.name);
      if (model.default) option.textContent += " (default)";
      if (model.state !== "ready") option.textContent += ` (${model.state})`;
      return option;
    }),
  );
  const fallback = offered.find((model) => model.default)?.name ?? offered[0]?.name ?? "";
  select.value = offered.some((model) => model.name === previous) ? previous : fallback;
}

/** A photo chosen with the file input or dropped on the drop zone goes to `use`. */
export function acceptPhotos(input, dropZone, use) {
  input.addEventListener("change", () => input.files[0] && use(input.files[0]));
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("over");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) use(file);
  });
}
