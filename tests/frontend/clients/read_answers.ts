// A front-end's code against the types openapi-typescript generates from /openapi.json
// (api.d.ts beside this file): it must compile under tsc --strict, then run in Node against
// the live service. It prints what it read as one JSON line for the Python test to check.
import type { components, paths } from "./api";

// The 200 answers as the paths declare them (an `unknown` here would not compile below).
type Detection = paths["/detect"]["post"]["responses"][200]["content"]["application/json"];
type Classification = paths["/classify"]["post"]["responses"][200]["content"]["application/json"];
type Box = components["schemas"]["DetectedObject"]["box"];
type Neighbours = paths["/similar"]["get"]["responses"][200]["content"]["application/json"];
type UnknownWord = paths["/similar"]["get"]["responses"][404]["content"]["application/json"];
type Iou = paths["/geometry/iou"]["post"]["responses"][200]["content"]["application/json"];
type IouRequest = paths["/geometry/iou"]["post"]["requestBody"]["content"]["application/json"];

function argument(index: number): string {
  const value = process.argv[2 + index];
  if (value === undefined) {
    throw new Error("usage: node read_answers.js BASE_URL DETECT_PHOTO CLASSIFY_PHOTO");
  }
  return value;
}
const [base, photo, bee] = [argument(0), argument(1), argument(2)];

async function upload<T>(path: string, file: string): Promise<T> {
  const { readFile } = await import("node:fs/promises");
  const form = new FormData();
  form.append("file", new Blob([await readFile(file)], { type: "image/jpeg" }), "photo.jpg");
  const response = await fetch(base + path, { method: "POST", body: form });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return (await response.json()) as T;
}

async function main(): Promise<void> {
  const detection = await upload<Detection>("/detect", photo);
  // A box is four numbers: destructuring it needs no index checks under --strict.
  const boxes = detection.detections.map((d) => {
    const box: Box = d.box;
    const [x1, y1, x2, y2] = box; // with noUncheckedIndexedAccess, only a tuple gives numbers
    return { label: d.label, score: d.score, width: x2 - x1, height: y2 - y1, box: d.box };
  });
  const classification = await upload<Classification>("/classify", bee);
  const top = classification.predictions[0];
  if (top === undefined) throw new Error("no prediction");

  const similar = await fetch(`${base}/similar?word=chip&k=3`);
  const neighbours = (await similar.json()) as Neighbours;
  const unknown = await fetch(`${base}/similar?word=chipz`);
  const missing = (await unknown.json()) as UnknownWord;
  const suggestions: string[] = missing.suggestions ?? [];

  const request: IouRequest = { boxes1: [[0, 0, 2, 2]], boxes2: [[1, 1, 3, 3]] };
  const iouAnswer = await fetch(`${base}/geometry/iou`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  const iou = (await iouAnswer.json()) as Iou;

  console.log(
    JSON.stringify({
      detect: { model: detection.model, image: detection.image, boxes },
      classify: { label: top.label, score: top.score },
      similar: neighbours.neighbors.map((n) => n.word),
      unknown: { status: unknown.status, detail: missing.detail, suggestions },
      iou: iou.iou[0]?.[0],
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
