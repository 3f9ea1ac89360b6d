// Train: upload a set, start a job, watch its curve live, read its evaluation; the new model
// then appears in the other tabs. The operator's endpoints: they need the admin key.

import { $, adminKey, call, element, guarded, keyHeaders, setAdminKey } from "./api.js";

const BASES = { classify: "resnet18-cifar10", detect: "tinyssd-logo", word2vec: "" };

export function setupTrain(onModels, refreshStatus) {
  const key = $("admin-key");
  const datasetSelect = $("job-dataset");
  const baseSelect = $("job-base");
  let models = [];
  let datasets = [];
  let watching = null;
  let lastShown = null;

  key.value = adminKey();
  key.addEventListener("change", () => {
    setAdminKey(key.value.trim());
    loadDatasets();
  });

  async function loadDatasets(chosen) {
    if (!adminKey()) return;
    const answer = await guarded(() => call("/datasets", { admin: true }));
    if (!answer) return;
    datasets = answer.datasets;
    datasetSelect.replaceChildren(
      ...datasets.map((set) =>
        element("option", { value: set.id }, `${set.name} (${set.task}, ${set.id})`),
      ),
    );
    if (chosen) datasetSelect.value = chosen;
    fillBases();
  }

  function fillBases() {
    const set = datasets.find((item) => item.id === datasetSelect.value);
    const task = set ? set.task : "classify";
    const offered = task === "word2vec" ? [] : models.filter((m) => m.task === task);
    const scratch = element("option", { value: "" }, "nothing (from scratch)");
    baseSelect.replaceChildren(
      ...offered.map((m) => element("option", { value: m.name }, m.name)),
      scratch,
    );
    baseSelect.value = offered.some((m) => m.name === BASES[task]) ? BASES[task] : "";
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("upload-file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name);
    const query = new URLSearchParams({ task: $("upload-task").value, name: $("upload-name").value });
    const summary = $("dataset-summary");
    summary.hidden = true;
    const set = await guarded(() => call(`/datasets?${query}`, { method: "POST", form, admin: true }));
    if (!set) return;
    summary.textContent = `${set.name}: ${set.id}\n${JSON.stringify(set.summary, null, 2)}`;
    summary.hidden = false;
    await loadDatasets(set.id);
  });
  datasetSelect.addEventListener("change", fillBases);

  $("job-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { dataset: datasetSelect.value, model_name: $("job-name").value };
    body.base_model = baseSelect.value || null;
    const epochs = Number($("job-epochs").value);
    if (epochs > 0) body.epochs = epochs;
    const job = await guarded(() =>
      call("/training-jobs", { method: "POST", json: body, admin: true }),
    );
    if (job) watch(job);
  });

  $("job-cancel").addEventListener("click", async () => {
    if (!watching) return;
    await guarded(() =>
      call(`/training-jobs/${watching}/cancel`, { method: "POST", admin: true }),
    );
  });

  /** Follow a job's Server-Sent Events (fetch, so that the admin key goes along). */
  async function watch(job) {
    watching = job.id;
    show(job);
    const cancel = $("job-cancel");
    cancel.disabled = false;
    try {
      const response = await fetch(`/training-jobs/${job.id}/events`, {
        headers: keyHeaders(true),
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const events = buffer.split("\n\n");
        buffer = events.pop();
        for (const block of events) {
          const data = block.split("\n").find((line) => line.startsWith("data: "));
          if (data && watching === job.id) show(JSON.parse(data.slice(6)));
        }
      }
    } catch (error) {
      $("job-status").textContent = `Lost the job's events: ${error.message}`;
    }
    cancel.disabled = true;
    // The new version is served within a second or two of the job's end: look until it is.
    for (let tries = 0; tries < 60; tries += 1) {
      await refreshStatus();
      const wanted = lastShown?.model && `${lastShown.model.name}@${lastShown.model.version}`;
      if (!wanted || models.some((m) => m.name === wanted && m.state === "ready")) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function show(job) {
    lastShown = job;
    const progress = job.progress || {};
    const parts = [`${job.model_name}: ${job.state}`];
    if (progress.epoch) parts.push(`epoch ${progress.epoch} of ${progress.epochs}`);
    if (progress.loss != null) parts.push(`loss ${progress.loss.toFixed(4)}`);
    if (progress.metric != null) parts.push(`metric ${progress.metric.toFixed(3)}`);
    if (progress.eta_s != null && job.state === "running") parts.push(`about ${Math.round(progress.eta_s)} s left`);
    if (job.model) parts.push(`served as ${job.model.name}@${job.model.version} and ${job.model.name}`);
    if (job.error) parts.push(job.error);
    const status = $("job-status");
    status.textContent = parts.join(" · ");
    status.dataset.state = job.state;
    const bar = $("job-progress");
    bar.hidden = false;
    bar.value = progress.fraction || 0;
    drawCurve(job.history || []);
    showEvaluation(job.evaluation);
  }

  onModels((list) => {
    models = list;
    fillBases();
  });
  loadDatasets();
}

/** Training loss (blue) and the held-out metric (green) per finished epoch. */
function drawCurve(history) {
  const svg = $("train-curve");
  svg.hidden = history.length === 0;
  if (!history.length) return;
  const width = 400;
  const height = 160;
  const pad = 24;
  const x = (index) => pad + (index * (width - 2 * pad)) / Math.max(1, history.length - 1);
  const line = (key, name) => {
    const values = history.map((point) => point[key]).filter((v) => v != null);
    if (!values.length) return null;
    const top = Math.max(...values);
    const bottom = Math.min(...values);
    const y = (v) => height - pad - ((v - bottom) / (top - bottom || 1)) * (height - 2 * pad);
    const points = history
      .map((point, index) => (point[key] == null ? null : `${x(index)},${y(point[key])}`))
      .filter(Boolean)
      .join(" ");
    const node = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    node.setAttribute("points", points);
    node.setAttribute("class", name);
    node.setAttribute("data-testid", `curve-${name}`);
    return node;
  };
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "6");
  label.setAttribute("y", "12");
  label.textContent = `epochs 1–${history.length}: loss (blue), held-out metric (green)`;
  svg.replaceChildren(...[line("loss", "loss"), line("metric", "metric"), label].filter(Boolean));
}

/** The confusion matrix (classify), per-class AP (detect) or neighbours (word2vec). */
function showEvaluation(evaluation) {
  const box = $("job-evaluation");
  if (!evaluation) {
    box.replaceChildren();
    return;
  }
  const parts = [];
  if (evaluation.confusion_matrix) {
    parts.push(element("p", {}, `Held-out accuracy ${evaluation.accuracy} on ${evaluation.images} images (rows: true class, columns: predicted)`));
    const table = element("table", { class: "matrix", "data-testid": "confusion-matrix" });
    const head = element("tr");
    head.append(element("th"), ...evaluation.classes.map((name) => element("th", {}, name)));
    table.append(head);
    evaluation.confusion_matrix.forEach((row, i) => {
      const tr = element("tr");
      tr.append(element("th", {}, evaluation.classes[i]));
      row.forEach((count, j) => tr.append(element("td", i === j ? { class: "diagonal" } : {}, String(count))));
      table.append(tr);
    });
    parts.push(table);
  } else if (evaluation.per_class) {
    parts.push(element("p", {}, `Held-out mAP@0.5 ${evaluation.map_50}, mAP ${evaluation.map}, false boxes per 100 images ${evaluation.false_boxes_per_100_images}`));
    const table = element("table", { class: "matrix", "data-testid": "per-class-ap" });
    for (const [name, figures] of Object.entries(evaluation.per_class)) {
      const tr = element("tr");
      tr.append(element("th", {}, name), element("td", {}, String(figures.ap)));
      table.append(tr);
    }
    parts.push(table);
  } else if (evaluation.neighbours) {
    for (const [word, near] of Object.entries(evaluation.neighbours)) {
      parts.push(element("p", {}, `${word}: ${near.map(([w, s]) => `${w} ${s}`).join(", ")}`));
    }
  }
  box.replaceChildren(...parts);
}
