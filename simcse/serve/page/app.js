// The search page of `simcse serve` and `simcse demo`: it calls the server's own API (POST /v1/search, /v1/embeddings).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let modelId = null;
  const edited = new Set();  // boxes the user changed: the server's defaults do not overwrite them
  ["top_k", "threshold"].forEach((id) => $(id).addEventListener("input", () => edited.add(id)));

  function headers() {
    const h = { "Content-Type": "application/json", Accept: "application/json" };
    const key = sessionStorage.getItem("simcse_api_key");
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  async function call(method, url, body) {
    const response = await fetch(url, { method, headers: headers(), body: body ? JSON.stringify(body) : undefined });
    let data;
    try { data = await response.json(); } catch (e) { data = {}; }
    if (response.status === 401) $("key-section").hidden = false;
    if (!response.ok) throw new Error((data.error && data.error.message) || "HTTP " + response.status);
    return data;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function loadInfo() {
    try {
      const models = await call("GET", "/v1/models");
      modelId = models.data[0].id;
      const card = await call("GET", "/v1/models/" + encodeURIComponent(modelId));
      if (card.dimensions === undefined) {  // the server listens while the model and its index load
        $("info").textContent = "Loading the model and its index...";
        setTimeout(loadInfo, 1000);
        return;
      }
      const defaults = card.search_defaults || {};
      ["top_k", "threshold"].forEach((id) => {
        if (defaults[id] !== undefined && !edited.has(id)) $(id).value = defaults[id];
      });
      $("info").textContent = card.index_size + " indexed sentences, model " + modelId + " (" + card.dimensions + "-d)";
      $("key-section").hidden = !sessionStorage.getItem("simcse_api_key") && $("key-section").hidden;
    } catch (err) {
      $("info").textContent = err.message;
    }
  }

  function renderResults(hits, ms) {
    const list = $("results");
    list.replaceChildren();
    hits.forEach((r, i) => {
      const li = document.createElement("li");
      li.className = "result";
      const rank = document.createElement("span");
      rank.className = "rank";
      rank.textContent = i + 1 + ".";
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = r.score.toFixed(4);
      score.style.setProperty("--w", Math.max(0, r.score) * 100 + "%");
      const text = document.createElement("span");
      text.className = "sentence";
      text.textContent = r.text;
      li.append(rank, score, text);
      list.append(li);
    });
    const n = hits.length;
    const status = $("status");
    status.replaceChildren(
      document.createTextNode(n === 0 ? "No result above the threshold, " : n + " result" + (n === 1 ? "" : "s") + " in "));
    const latency = document.createElement("span");
    latency.id = "latency";
    latency.textContent = ms.toFixed(1) + " ms";
    status.append(latency);
  }

  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("search-button");
    button.disabled = true;
    const started = performance.now();
    try {
      const body = { queries: [$("query").value], top_k: Number($("top_k").value), threshold: Number($("threshold").value) };
      const data = await call("POST", "/v1/search", body);
      showError("");
      renderResults(data.data[0].results, performance.now() - started);
    } catch (err) {
      showError(err.message);
      $("results").replaceChildren();
      $("status").textContent = "";
    } finally {
      button.disabled = false;
    }
  });

  $("similarity-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("similarity");
    const started = performance.now();
    try {
      const data = await call("POST", "/v1/embeddings", { input: [$("sent_a").value, $("sent_b").value] });
      const [a, b] = data.data.map((d) => d.embedding);
      const cos = a.reduce((s, x, i) => s + x * b[i], 0);  // the vectors are unit length
      out.className = "status";
      out.textContent = "cosine similarity " + cos.toFixed(4) + " (" + (performance.now() - started).toFixed(1) + " ms)";
    } catch (err) {
      out.className = "error";
      out.textContent = err.message;
    }
  });

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("simcse_api_key", $("api_key").value);
    loadInfo();
  });

  loadInfo();
})();
