// Live search and pairwise similarity through the JSON API (the page also works without JS).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    let body;
    try { body = await response.json(); } catch (e) { body = { error: "HTTP " + response.status }; }
    if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
    return body;
  }

  function renderResults(data) {
    const list = $("results");
    list.replaceChildren();
    for (const r of data.results) {
      const li = document.createElement("li");
      li.className = "result";
      const rank = document.createElement("span");
      rank.className = "rank";
      rank.textContent = r.rank + ".";
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = r.score.toFixed(4);
      score.style.setProperty("--w", Math.max(0, r.score) * 100 + "%");
      const text = document.createElement("span");
      text.className = "sentence";
      text.textContent = r.sentence;
      li.append(rank, score, text);
      list.append(li);
    }
    const n = data.results.length;
    const status = $("status");
    status.replaceChildren(
      document.createTextNode(n === 0 ? "No result above the threshold, " : n + " result" + (n === 1 ? "" : "s") + " in "));
    const latency = document.createElement("span");
    latency.id = "latency";
    latency.textContent = data.latency_ms.toFixed(1) + " ms";
    status.append(latency);
  }

  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ q: $("query").value, top_k: $("top_k").value, threshold: $("threshold").value });
    const button = $("search-button");
    button.disabled = true;
    try {
      const data = await getJSON("/api/search?" + params);
      showError("");
      renderResults(data);
      history.replaceState(null, "", "/?" + params);
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
    const params = new URLSearchParams({ a: $("sent_a").value, b: $("sent_b").value });
    const out = $("similarity");
    try {
      const data = await getJSON("/api/similarity?" + params);
      out.className = "status";
      out.textContent = "cosine similarity " + data.similarity.toFixed(4) + " (" + data.latency_ms.toFixed(1) + " ms)";
    } catch (err) {
      out.className = "error";
      out.textContent = err.message;
    }
  });
})();
