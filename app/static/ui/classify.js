// Classify: a photo and its top classes as bars.

import { $, acceptPhotos, bar, call, fillModels, guarded } from "./api.js";

export function setupClassify(onModels) {
  const select = $("classify-model");
  const image = $("classify-image");
  const list = $("predictions");
  let photo = null;

  async function classify() {
    if (!photo) return;
    const form = new FormData();
    form.append("file", photo, photo.name || "photo");
    const query = new URLSearchParams({ top_k: $("classify-top-k").value || "5" });
    if (select.value) query.set("model", select.value);
    list.replaceChildren();
    const answer = await guarded(() => call(`/classify?${query}`, { method: "POST", form }));
    if (!answer) return;
    list.replaceChildren(
      ...answer.predictions.map((p) =>
        bar("prediction", p.label, p.score, p.score, {
          "data-label": p.label,
          "data-score": String(p.score),
        }),
      ),
    );
  }

  acceptPhotos($("classify-file"), $("classify-drop"), (file) => {
    photo = file;
    URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(file);
    image.hidden = false;
    classify();
  });
  select.addEventListener("change", classify);
  $("classify-top-k").addEventListener("change", classify);
  onModels((models) => fillModels(select, models, "classify"));
}
