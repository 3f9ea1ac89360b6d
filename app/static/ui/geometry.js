// Geometry: the book's chapter made interactive (IoU, anchor boxes, NMS step by step).

import { $, call, element, guarded, showError } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

function parseNumbers(text, count, what) {
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.length !== count || values.some((v) => !Number.isFinite(v))) {
    throw new Error(`${what} must be ${count} numbers separated by commas, e.g. 10,10,110,110`);
  }
  return values;
}

function svgBox(box, attributes) {
  const [x1, y1, x2, y2] = box;
  const rect = document.createElementNS(SVG, "rect");
  const sizes = { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1) };
  for (const [name, value] of Object.entries({ ...sizes, ...attributes })) {
    rect.setAttribute(name, value);
  }
  return rect;
}

/** Fit the drawing to the boxes it shows, with a margin. */
function fit(svg, boxes) {
  const xs = boxes.flatMap((b) => [b[0], b[2]]);
  const ys = boxes.flatMap((b) => [b[1], b[3]]);
  const [left, top] = [Math.min(...xs), Math.min(...ys)];
  const side = Math.max(Math.max(...xs) - left, Math.max(...ys) - top, 1);
  const margin = side * 0.1;
  svg.setAttribute("viewBox", `${left - margin} ${top - margin} ${side + 2 * margin} ${side + 2 * margin}`);
  return side / 100; // a stroke width that reads at any scale
}

function setupIou() {
  $("iou-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await guarded(async () => {
      const box1 = parseNumbers($("iou-box1").value, 4, "Box 1");
      const box2 = parseNumbers($("iou-box2").value, 4, "Box 2");
      const result = await call("/geometry/iou", {
        method: "POST",
        json: { boxes1: [box1], boxes2: [box2] },
      });
      return { box1, box2, iou: result.iou[0][0] };
    });
    const value = $("iou-value");
    const svg = $("iou-canvas");
    if (!answer) {
      value.textContent = "–";
      value.removeAttribute("data-value");
      svg.replaceChildren();
      return;
    }
    value.textContent = answer.iou.toFixed(4);
    value.dataset.value = String(answer.iou);
    const stroke = fit(svg, [answer.box1, answer.box2]);
    svg.replaceChildren(
      svgBox(answer.box1, { class: "first", "stroke-width": stroke }),
      svgBox(answer.box2, { class: "second", "stroke-width": stroke }),
    );
  });
}

function setupAnchors() {
  const canvas = $("anchor-image");
  const overlay = $("anchor-overlay");
  let size = { width: canvas.width, height: canvas.height }; // the image's own pixels

  function drawGrid() {
    const context = canvas.getContext("2d");
    context.fillStyle = "#f4f4f4";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = "#ddd";
    for (let x = 0; x <= canvas.width; x += 25) context.strokeRect(x, 0, 0, canvas.height);
    for (let y = 0; y <= canvas.height; y += 25) context.strokeRect(0, y, canvas.width, 0);
  }

  $("anchor-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      size = { width: bitmap.width, height: bitmap.height };
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext("2d").drawImage(bitmap, 0, 0);
      overlay.replaceChildren();
    } catch {
      showError("That file is not an image the browser can read: choose a JPEG or PNG.");
    }
  });

  canvas.addEventListener("click", async (event) => {
    const bounds = canvas.getBoundingClientRect();
    const col = Math.min(size.width - 1, Math.floor(((event.clientX - bounds.left) / bounds.width) * size.width));
    const row = Math.min(size.height - 1, Math.floor(((event.clientY - bounds.top) / bounds.height) * size.height));
    const answer = await guarded(() => {
      const sizes = $("anchor-sizes").value.split(",").map(Number);
      const ratios = $("anchor-ratios").value.split(",").map(Number);
      return call("/geometry/anchors", {
        method: "POST",
        json: { ...size, sizes, ratios, pixels: [[row, col]] },
      });
    });
    if (!answer) return;
    $("anchor-hint").textContent =
      `${answer.per_pixel} anchors centred on pixel (row ${row}, column ${col}); ` +
      `the image has ${answer.total.toLocaleString()} in all.`;
    overlay.replaceChildren(
      ...answer.anchors[0].map(([x1, y1, x2, y2], index) => {
        const box = element("div", {
          class: "box anchor",
          "data-testid": "anchor",
          "data-box": [x1, y1, x2, y2].join(","),
        });
        // Anchors are normalised xyxy: fractions of the image's width and height.
        box.style.left = `${x1 * 100}%`;
        box.style.top = `${y1 * 100}%`;
        box.style.width = `${(x2 - x1) * 100}%`;
        box.style.height = `${(y2 - y1) * 100}%`;
        box.style.setProperty("--hue", String((index * 67) % 360));
        return box;
      }),
    );
  });
  drawGrid();
}

function setupNms() {
  const svg = $("nms-canvas");
  const explain = $("nms-explain");
  const next = $("nms-step");
  let run = null;

  function render() {
    const { boxes, order, states, step, stroke } = run;
    svg.replaceChildren(
      ...order.map((index) => {
        const rect = svgBox(boxes[index], {
          class: `nms ${states[index]}${order[step - 1] === index ? " current" : ""}`,
          "stroke-width": stroke,
          "data-testid": "nms-box",
          "data-index": index,
          "data-state": states[index],
        });
        return rect;
      }),
    );
  }

  function advance() {
    const { order, keep, iou, threshold, states } = run;
    const index = order[run.step];
    if (keep.includes(index)) {
      states[index] = "kept";
      explain.textContent = `Box ${index} (score ${run.scores[index]}) is the best left: kept.`;
    } else {
      const by = order.slice(0, run.step).find((k) => states[k] === "kept" && iou[k][index] > threshold);
      states[index] = "suppressed";
      explain.textContent =
        `Box ${index} (score ${run.scores[index]}) overlaps kept box ${by} with IoU ` +
        `${iou[by][index].toFixed(3)} > ${threshold}: suppressed.`;
    }
    run.step += 1;
    if (run.step === order.length) {
      next.disabled = true;
      explain.textContent += ` Done: NMS keeps ${keep.join(", ")}.`;
    }
    render();
  }

  $("nms-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    run = await guarded(async () => {
      const rows = $("nms-boxes").value.split("\n").filter((line) => line.trim());
      const parsed = rows.map((line, i) => parseNumbers(line, 5, `Line ${i + 1}`));
      const boxes = parsed.map((row) => row.slice(0, 4));
      const scores = parsed.map((row) => row[4]);
      const threshold = Number($("nms-iou").value);
      const [{ keep }, { iou }] = await Promise.all([
        call("/geometry/nms", { method: "POST", json: { boxes, scores, iou_threshold: threshold } }),
        call("/geometry/iou", { method: "POST", json: { boxes1: boxes, boxes2: boxes } }),
      ]);
      const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
      const states = scores.map(() => "pending");
      return { boxes, scores, threshold, keep, iou, order, states, step: 0, stroke: fit(svg, boxes) };
    });
    next.disabled = !run;
    if (!run) {
      svg.replaceChildren();
      explain.textContent = "";
      return;
    }
    explain.textContent = `Boxes by decreasing score: ${run.order.join(", ")}. Press Next step.`;
    render();
  });
  next.addEventListener("click", () => run && run.step < run.order.length && advance());
}

export function setupGeometry() {
  setupIou();
  setupAnchors();
  setupNms();
}
