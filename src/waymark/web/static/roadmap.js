// The roadmap page: topic panels opened in place, and the keyboard on the diagram.
//
// Without this script every topic is a link to its panel (`#topic-<id>`), shown by `:target`.
// With it: one panel at a time opens beside the diagram, focus moves into it, Escape (or
// Close) shuts it and puts focus back on the topic; arrow keys move between topics (roving
// tabindex, so the diagram is one Tab stop); Home and End go to the first and last topic.
//
// Hooks for what comes next (progress, notes): the keys `d`, `l`, `s` and `p` on a topic or
// its open panel dispatch `waymark:status-key` on document, detail {topicId, status}; opening
// and closing a panel dispatch `waymark:panel-open` / `waymark:panel-close` on the panel.
"use strict";

(() => {
  const diagram = document.querySelector("[data-roadmap-diagram]");
  if (!diagram) return;
  const nodes = Array.from(diagram.querySelectorAll("a.topic"));
  if (!nodes.length) return;
  const STATUS_KEYS = { d: "done", l: "learning", s: "skipped", p: "pending" };
  const nodeById = new Map(nodes.map((node) => [node.dataset.topicId, node]));
  let openPanel = null;
  let returnTo = null;

  const panelOf = (topicId) => document.getElementById(`topic-${topicId}`);

  function makeCurrent(node) {
    for (const other of nodes) other.setAttribute("tabindex", other === node ? "0" : "-1");
  }

  function focusNode(node) {
    makeCurrent(node);
    node.focus();
  }

  function open(topicId, from) {
    const panel = panelOf(topicId);
    if (!panel) return;
    if (openPanel && openPanel !== panel) close({ restoreFocus: false });
    openPanel = panel;
    returnTo = from || nodeById.get(topicId) || null;
    if (nodeById.has(topicId)) makeCurrent(nodeById.get(topicId));
    panel.classList.add("is-open");
    document.body.classList.add("panel-open");
    history.replaceState(null, "", `#topic-${topicId}`);
    panel.focus();
    panel.dispatchEvent(new CustomEvent("waymark:panel-open", { bubbles: true, detail: { topicId } }));
  }

  function close({ restoreFocus = true } = {}) {
    if (!openPanel) return;
    const panel = openPanel;
    openPanel = null;
    panel.classList.remove("is-open");
    document.body.classList.remove("panel-open");
    history.replaceState(null, "", location.pathname + location.search);
    panel.dispatchEvent(
      new CustomEvent("waymark:panel-close", { bubbles: true, detail: { topicId: panel.dataset.topicId } }),
    );
    if (restoreFocus && returnTo) returnTo.focus();
  }

  // The nearest topic in the direction of an arrow key, by the centres of their boxes.
  function nextInDirection(from, key) {
    const centre = (node) => {
      const box = node.getBBox();
      return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    };
    const here = centre(from);
    let best = null;
    let bestScore = Infinity;
    for (const node of nodes) {
      if (node === from) continue;
      const there = centre(node);
      const dx = there.x - here.x;
      const dy = there.y - here.y;
      const along = { ArrowDown: dy, ArrowUp: -dy, ArrowRight: dx, ArrowLeft: -dx }[key];
      const across = key === "ArrowDown" || key === "ArrowUp" ? Math.abs(dx) : Math.abs(dy);
      if (along <= 1) continue;
      const score = along + across * 3;
      if (score < bestScore) {
        best = node;
        bestScore = score;
      }
    }
    return best;
  }

  function statusKey(event, topicId) {
    const status = STATUS_KEYS[event.key];
    if (!status || event.ctrlKey || event.metaKey || event.altKey) return false;
    document.dispatchEvent(new CustomEvent("waymark:status-key", { detail: { topicId, status } }));
    return true;
  }

  makeCurrent(nodes[0]);
  for (const node of nodes) {
    node.addEventListener("click", (event) => {
      event.preventDefault();
      open(node.dataset.topicId, node);
    });
    node.addEventListener("focus", () => makeCurrent(node));
  }

  diagram.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest("a.topic");
    if (!node) return;
    let target = null;
    if (event.key.startsWith("Arrow")) target = nextInDirection(node, event.key);
    else if (event.key === "Home") target = nodes[0];
    else if (event.key === "End") target = nodes[nodes.length - 1];
    else if (event.key === " ") {
      event.preventDefault();
      open(node.dataset.topicId, node);
      return;
    } else if (statusKey(event, node.dataset.topicId)) {
      event.preventDefault();
      return;
    } else return;
    event.preventDefault();
    if (target) focusNode(target);
  });

  // Links elsewhere on the page (the outline) open panels in place too.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#topic-"]');
    if (link && !link.classList.contains("topic")) {
      event.preventDefault();
      open(link.getAttribute("href").slice("#topic-".length), link);
    }
    const closer = event.target.closest && event.target.closest("[data-close-panel]");
    if (closer) {
      event.preventDefault();
      close();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (!openPanel) return;
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (openPanel.contains(event.target) && !/^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName)) {
      if (statusKey(event, openPanel.dataset.topicId)) event.preventDefault();
    }
  });

  // A link to a topic (`/roadmaps/backend#topic-databases.redis`) opens its panel, on load
  // and when the fragment changes (back and forward, a link typed or followed).
  function followHash() {
    const wanted = location.hash.startsWith("#topic-")
      ? decodeURIComponent(location.hash.slice("#topic-".length))
      : "";
    if (wanted && panelOf(wanted)) open(wanted, nodeById.get(wanted) || null);
    else if (openPanel) close({ restoreFocus: false });
  }
  window.addEventListener("hashchange", followHash);
  followHash();
})();
