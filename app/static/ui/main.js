// The page: tabs, the status strip and the API key; each tab lives in its own module.

import { $, apiKey, call, element, guarded, setApiKey } from "./api.js";
import { setupClassify } from "./classify.js";
import { setupDetect } from "./detect.js";
import { setupGeometry } from "./geometry.js";
import { setupTrain } from "./train.js";
import { setupWords } from "./words.js";

const TABS = ["detect", "classify", "words", "geometry", "train"];
const listeners = [];

/** Models, device, numeric format and readiness; tabs refill their model lists from it. */
async function refreshStatus() {
  const ready = await fetch("/health/ready")
    .then((response) => response.json())
    .catch(() => null);
  const pill = $("status-ready");
  if (!ready) {
    pill.textContent = "unreachable";
    pill.className = "pill bad";
    return;
  }
  pill.textContent = ready.status === "ready" ? "ready" : "not ready";
  pill.className = `pill ${ready.status === "ready" ? "good" : "bad"}`;
  $("status-device").textContent = `on ${ready.device}`;
  const answer = await guarded(() => call("/models"));
  if (!answer) return;
  $("status-models").replaceChildren(
    ...answer.models.map((model) =>
      element(
        "span",
        {
          class: `model ${model.state}`,
          "data-testid": "status-model",
          "data-name": model.name,
          title: model.reason || model.dtype_reason || "",
        },
        `${model.name}: ${model.state}, ${model.dtype}`,
      ),
    ),
  );
  for (const listener of listeners) listener(answer.models);
}

function show(tab) {
  const chosen = TABS.includes(tab) ? tab : TABS[0];
  for (const name of TABS) {
    document.getElementById(name).hidden = name !== chosen;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === chosen));
  }
}

function start() {
  for (const name of TABS) {
    $(`tab-${name}`).addEventListener("click", () => {
      history.replaceState(null, "", `#${name}`);
      show(name);
    });
  }
  show(location.hash.slice(1));
  const key = $("api-key");
  key.value = apiKey();
  key.addEventListener("change", () => {
    setApiKey(key.value.trim());
    refreshStatus();
  });
  const onModels = (listener) => listeners.push(listener);
  setupDetect(onModels);
  setupClassify(onModels);
  setupWords(onModels);
  setupGeometry();
  setupTrain(onModels, refreshStatus);
  refreshStatus();
  // Models finish loading after the page may have opened: look again until all are ready.
  const timer = setInterval(async () => {
    await refreshStatus();
    if ($("status-ready").textContent === "ready") clearInterval(timer);
  }, 3000);
}

start();
