// Detect: a photo, the boxes (and a Mask R-CNN's masks) drawn over it, thresholds as sliders
// that ask again.

import { $, acceptPhotos, call, element, fillModels, guarded } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

export function setupDetect(onModels) {
  const select = $("detect-model");
  const score = $("detect-score");
  const iou = $("detect-iou");
  const image = $("detect-image");
  const overlay = $("detect-overlay");
  let photo = null;
  let models = [];
  let asked = 0; // answers to an older question are dropped

  function showSlider(slider, output) {
    $(output).textContent = Number(slider.value).toFixed(2);
  }

  /** The chosen model's own thresholds (its `thresholds` in /models) set the sliders. */
  function modelDefaults() {
    const model = models.find((m) => m.name === select.value);
    const own = model?.thresholds || {};
    score.value = own.score_threshold ?? 0.5;
    iou.value = own.iou_threshold ?? 0.5;
    showSlider(score, "detect-score-value");
    showSlider(iou, "detect-iou-value");
  }

  async function detect() {
    if (!photo) return;
    const question = ++asked;
    const form = new FormData();
    form.append("file", photo, photo.name || "photo");
    const query = new URLSearchParams({ score_threshold: score.value, iou_threshold: iou.value });
    if (select.value) query.set("model", select.value);
    $("detect-summary").textContent = "Detecting…";
    const answer = await guarded(() => call(`/detect?${query}`, { method: "POST", form }));
    if (question !== asked) return;
    if (!answer) {
      $("detect-summary").textContent = "";
      overlay.replaceChildren();
      return;
    }
    draw(answer);
  }

  /** Each detection's outline polygons, filled, in an SVG of the photo's own pixels. */
  function maskLayer(detections, width, height) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "masks");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    for (const d of detections) {
      if (!d.mask?.polygons?.length) continue;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("data-testid", "mask");
      path.setAttribute("data-label", d.label);
      path.setAttribute(
        "d",
        d.mask.polygons
          .map((points) => {
            const pairs = [];
            for (let i = 0; i < points.length; i += 2) pairs.push(`${points[i]} ${points[i + 1]}`);
            return `M${pairs.join("L")}Z`;
          })
          .join(""),
      );
      svg.append(path);
    }
    return svg;
  }

  function draw(answer) {
    const { width, height } = answer.image;
    const count = answer.detections.length;
    const masks = answer.detections.filter((d) => d.mask).length;
    $("detect-summary").textContent =
      `${count} ${count === 1 ? "box" : "boxes"}${masks ? ` and ${masks} ${masks === 1 ? "mask" : "masks"}` : ""} ` +
      `from ${answer.model} in the ${width}×${height} photo`;
    overlay.replaceChildren(
      maskLayer(answer.detections, width, height),
      ...answer.detections.map((d) => {
        const [x1, y1, x2, y2] = d.box;
        const box = element("div", {
          class: "box",
          "data-testid": "detection",
          "data-label": d.label,
          "data-score": String(d.score),
          "data-box": d.box.join(","),
        });
        // Percentages of the photo: the boxes stay on their objects however the page scales it.
        box.style.left = `${(x1 / width) * 100}%`;
        box.style.top = `${(y1 / height) * 100}%`;
        box.style.width = `${((x2 - x1) / width) * 100}%`;
        box.style.height = `${((y2 - y1) / height) * 100}%`;
        box.append(element("span", { class: "tag" }, `${d.label} ${d.score.toFixed(2)}`));
        return box;
      }),
    );
  }

  acceptPhotos($("detect-file"), $("detect-drop"), (file) => {
    photo = file;
    overlay.replaceChildren();
    URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(file);
    $("detect-stage").hidden = false;
    detect();
  });
  for (const [slider, output] of [
    [score, "detect-score-value"],
    [iou, "detect-iou-value"],
  ]) {
    slider.addEventListener("input", () => showSlider(slider, output));
    slider.addEventListener("change", detect);
  }
  select.addEventListener("change", () => {
    modelDefaults();
    detect();
  });
  onModels((listed) => {
    const first = !models.length;
    models = listed;
    fillModels(select, listed, "detect");
    if (first) modelDefaults();
  });
}
