// Words: neighbours of a word with autocomplete from /vocabulary, and analogies.

import { $, ApiError, bar, call, element, fillModels, guarded, showError } from "./api.js";

export function setupWords(onModels) {
  const select = $("words-model");
  const input = $("word-input");
  const list = $("neighbors");
  let typing = null;

  const withModel = (params) => {
    const query = new URLSearchParams(params);
    if (select.value) query.set("model", select.value);
    return query;
  };

  function similarityBars(testid, neighbors) {
    return neighbors.map((n) =>
      bar(testid, n.word, n.similarity, n.similarity, {
        "data-word": n.word,
        "data-similarity": String(n.similarity),
      }),
    );
  }

  /** Close spellings of an unknown word, each a button that searches for it. */
  function suggest(words) {
    const line = $("suggestions");
    line.hidden = !words.length;
    line.replaceChildren();
    if (!words.length) return;
    line.append("Did you mean ");
    for (const word of words) {
      const choice = element("button", { type: "button", "data-testid": "suggestion" }, word);
      choice.addEventListener("click", () => {
        input.value = word;
        search();
      });
      line.append(choice, " ");
    }
  }

  async function search() {
    const word = input.value.trim();
    if (!word) return;
    list.replaceChildren();
    suggest([]);
    try {
      const answer = await call(`/similar?${withModel({ word, k: 10 })}`);
      list.replaceChildren(...similarityBars("neighbor", answer.neighbors));
    } catch (error) {
      showError(error);
      if (error instanceof ApiError && Array.isArray(error.body?.suggestions)) {
        suggest(error.body.suggestions);
      }
    }
  }

  async function complete() {
    const prefix = input.value.trim();
    if (!prefix) return;
    const answer = await call(`/vocabulary?${withModel({ prefix, limit: 10 })}`).catch(() => null);
    if (!answer || input.value.trim() !== prefix) return;
    $("vocabulary").replaceChildren(
      ...answer.words.map((word) => element("option", { value: word })),
    );
  }

  $("words-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  input.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(complete, 150);
  });
  $("analogy-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const [a, b, c] = ["a", "b", "c"].map((name) => $(`analogy-${name}`).value.trim());
    const answer = await guarded(() => call(`/analogy?${withModel({ a, b, c, k: 5 })}`));
    $("analogy-results").replaceChildren(
      ...(answer ? similarityBars("analogy-result", answer.neighbors) : []),
    );
  });
  onModels((models) => fillModels(select, models, "word2vec"));
}
