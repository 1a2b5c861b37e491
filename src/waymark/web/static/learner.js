// A signed-in learner's roadmap page, without reloads: statuses, notes and own resources go
// through the REST API (`/api/v1/me/...`, the session cookie and the page's CSRF token as
// `X-CSRF-Token`), and the page is updated in place: the topic's node, its outline entry and
// panel, the progress bar and next up. Every change is announced to screen readers.
//
// Without this script the same forms post to the pages' own routes and come back.
// Markdown is rendered on the server only: a preview asks `/notes/preview` for the HTML.
"use strict";

(() => {
  const root = document.querySelector("[data-learner]");
  if (!root) return;
  const slug = root.dataset.slug;
  const csrf = root.querySelector('input[name="csrf_token"]').value;
  const live = document.querySelector("[data-learner-live]");
  const STATUSES = ["pending", "learning", "done", "skipped"];
  const api = (path) => `/api/v1/me/${path}`;
  const enc = encodeURIComponent;

  function announce(text) {
    // Cleared first, so the same words said twice are said again.
    live.textContent = "";
    window.setTimeout(() => { live.textContent = text; }, 50);
  }

  function say(element, text, { error = false } = {}) {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle("is-error", error);
  }

  // One request after another: answers then arrive in the order the changes were made.
  let queue = Promise.resolve();
  function inTurn(work) {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  }

  async function send(method, path, { json, form, headers = {} } = {}) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, ...headers } };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form !== undefined) {
      init.body = new URLSearchParams({ csrf_token: csrf, ...form });
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new Failure("The server could not be reached. Check your connection and try again.");
    }
    if (response.ok) return response;
    let problem = {};
    if ((response.headers.get("content-type") || "").includes("json")) {
      problem = await response.json().catch(() => ({}));
    }
    throw new Failure(problemText(response.status, problem), response.status, problem);
  }

  class Failure extends Error {
    constructor(message, status = 0, problem = {}) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  function problemText(status, problem) {
    if (status === 401) return "Your session has ended. Sign in again, then retry.";
    if (status === 429) return "Too many changes at once. Wait a moment and try again.";
    return problem.detail || problem.title || `The change failed (${status}). Try again.`;
  }

  // -- Statuses --------------------------------------------------------------------------

  const nodeOf = (id) => document.querySelector(`a.topic[data-topic-id="${CSS.escape(id)}"]`);
  const outlineOf = (id) => document.querySelector(`.outline-topic[data-topic-id="${CSS.escape(id)}"]`);
  const panelOf = (id) => document.getElementById(`topic-${id}`);
  const labelOf = (status) => root.querySelector(`button[name="status"][value="${status}"]`).dataset.label;

  function paintStatus(id, status) {
    const label = labelOf(status);
    const node = nodeOf(id);
    if (node) {
      node.classList.remove(...STATUSES);
      node.classList.add(status);
      node.dataset.status = status;
      node.setAttribute("aria-label", `${node.dataset.title}, ${node.dataset.kindLabel}, ${label}`);
      const title = node.querySelector("[data-node-title]");
      if (title) title.textContent = `${node.dataset.title} (${node.dataset.kindLabel}): ${label}`;
    }
    for (const holder of [outlineOf(id), panelOf(id)]) {
      if (!holder) continue;
      if (holder.classList.contains("outline-topic")) {
        holder.classList.remove(...STATUSES);
        holder.classList.add(status);
      }
      const text = holder.querySelector("[data-status-text]");
      text.textContent = label;
      text.classList.remove(...STATUSES);
      text.classList.add(status);
    }
    const form = panelOf(id) && panelOf(id).querySelector("[data-status-form]");
    if (form) {
      for (const button of form.querySelectorAll('button[name="status"]')) {
        button.setAttribute("aria-pressed", String(button.value === status));
      }
    }
  }

  function paintCounts(counts) {
    const bar = document.querySelector('[data-hook="progress-bar"]');
    if (!bar) return;
    const values = { ...counts, finished: counts.done + counts.skipped, percentage: Number(counts.percentage) };
    for (const holder of bar.querySelectorAll("[data-count]")) {
      holder.textContent = String(values[holder.dataset.count]);
    }
    const progress = bar.querySelector("[data-progress-bar]");
    progress.max = counts.total;
    progress.value = values.finished;
    progress.textContent = `${values.percentage}%`;
  }

  const progressView = async () => (await send("GET", api(`progress/${enc(slug)}`))).json();

  async function refreshNextUp(view) {
    const list = document.querySelector("[data-next-up-list]");
    if (!list) return;
    view = view || await progressView();
    list.replaceChildren(
      ...view.next_up.map((id) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `#topic-${id}`;
        link.textContent = nodeOf(id) ? nodeOf(id).dataset.title : id;
        item.append(link);
        return item;
      }),
    );
    document.querySelector("[data-next-up-empty]").hidden = view.next_up.length > 0;
  }

  function setStatus(id, status) {
    const message = panelOf(id) && panelOf(id).querySelector("[data-status-message]");
    say(message, "Saving…");
    return inTurn(async () => {
      const path = api(`progress/${enc(slug)}/topics/${enc(id)}`);
      const result = await (await send("PUT", path, { json: { status } })).json();
      paintStatus(id, result.status);
      paintCounts(result.counts);
      const title = nodeOf(id) ? nodeOf(id).dataset.title : id;
      const c = result.counts;
      say(message, `Marked ${labelOf(result.status).toLowerCase()}.`);
      announce(`${title}: ${labelOf(result.status)}. ${c.done + c.skipped} of ${c.total} done.`);
      await refreshNextUp(null).catch(() => {});
    }).catch((failure) => {
      say(message, failure.message, { error: true });
      announce(`Not saved: ${failure.message}`);
    });
  }

  root.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("[data-status-form]")) return;
    const button = event.submitter;
    if (!button || button.name !== "status") return;
    event.preventDefault();
    setStatus(form.dataset.topicId, button.value);
  });

  document.addEventListener("waymark:status-key", (event) => {
    setStatus(event.detail.topicId, event.detail.status);
  });

  // -- Live (live.js): a change made elsewhere (another tab, the API) -------------------

  // What the page shows is read again from the API (never worked out from the event), in
  // turn with this page's own changes; only what differs is repainted and announced.
  async function catchUp() {
    const view = await progressView();
    const changed = [];
    for (const [id, status] of Object.entries(view.statuses)) {
      const node = nodeOf(id);
      if (node && node.dataset.status !== status) {
        paintStatus(id, status);
        changed.push(`${node.dataset.title}: ${labelOf(status)}`);
      }
    }
    paintCounts(view.counts);
    await refreshNextUp(view);
    if (changed.length) {
      const c = view.counts;
      const finished = `${c.done + c.skipped} of ${c.total} done`;
      announce(`Changed elsewhere: ${changed.join(", ")}. ${finished}.`);
    }
  }

  const PROGRESS = ["progress.topic_status_changed", "progress.restored", "progress.roadmap_completed"];
  let catchingUp = null;
  document.addEventListener("waymark:live", (event) => {
    const { kind, channel, data } = event.detail;
    const mine = PROGRESS.includes(kind) && data.roadmap === slug;
    if (!mine && !(kind === "resync" && channel.startsWith("user:"))) return;
    catchingUp = catchingUp || window.waymarkLive.latest(() => inTurn(catchUp));
    catchingUp();
  });

  // -- Notes -----------------------------------------------------------------------------

  async function rendered(markdown) {
    return (await send("POST", "/notes/preview", { form: { markdown } })).text();
  }

  // The HTML comes from our server, which renders Markdown with raw HTML off and only safe
  // links (web/markdown.py); it is parsed inert and moved in, never run.
  function showHtml(holder, html) {
    const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
    holder.replaceChildren(...parsed.body.childNodes);
  }

  for (const form of root.querySelectorAll("[data-note-form]")) {
    const id = form.dataset.topicId;
    const textarea = form.querySelector("textarea");
    const message = form.querySelector("[data-note-message]");
    const preview = form.querySelector("[data-note-preview]");
    const previewButton = form.querySelector("[data-note-preview-button]");
    const deleteForm = form.parentElement.querySelector("[data-note-delete-form]");

    // Without script the button posts the form (`intent=preview`) and the page comes back
    // with the preview; with it, the preview is fetched in place.
    previewButton.addEventListener("click", async (event) => {
      event.preventDefault();
      say(message, "Drawing the preview…");
      try {
        showHtml(preview.querySelector("[data-note-preview-body]"), await rendered(textarea.value));
        preview.hidden = false;
        say(message, "Preview below; not saved yet.");
      } catch (failure) {
        say(message, failure.message, { error: true });
      }
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      say(message, "Saving…");
      const headers = form.dataset.etag ? { "If-Match": form.dataset.etag } : {};
      try {
        const path = api(`notes/${enc(slug)}/${enc(id)}`);
        const response = await send("PUT", path, { json: { markdown: textarea.value }, headers });
        form.dataset.etag = response.headers.get("etag") || "";
        // The delete form names the version it deletes: the one just saved.
        if (deleteForm) deleteForm.querySelector("[data-note-revision]").value = form.dataset.etag.replaceAll('"', "");
        const html = await rendered(textarea.value);
        showHtml(panelOf(id).querySelector("[data-note-view]"), html);
        const printed = outlineOf(id) && outlineOf(id).querySelector("[data-outline-note]");
        if (printed) showHtml(printed, html);
        preview.hidden = true;
        say(message, "Note saved.");
        announce("Note saved.");
      } catch (failure) {
        const text = failure.status === 412
          ? "This note was changed elsewhere (another tab or device) since this page was loaded, " +
            "so it was not saved. Copy your text, reload the page, and save again."
          : failure.message;
        say(message, text, { error: true });
        announce(`Note not saved: ${text}`);
      }
    });
  }

  // -- Own resources ---------------------------------------------------------------------

  const HUMANE = [
    [/^Expected `str` of length >= 1/, "This field is required."],
    [/^Expected `str` of length <= (\d+)/, "At most $1 characters."],
  ];
  const humane = (text) => {
    for (const [pattern, words] of HUMANE) if (pattern.test(text)) return text.replace(pattern, words).replace(/ - .*$/, "");
    return text.charAt(0).toUpperCase() + text.slice(1);
  };

  function clearFieldErrors(form) {
    for (const error of form.querySelectorAll(".field-error[data-from-script]")) error.remove();
    for (const field of form.querySelectorAll(".field.has-error")) field.classList.remove("has-error");
    for (const input of form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
      const described = (input.getAttribute("aria-describedby") || "").split(" ")
        .filter((ref) => ref && ref !== `${input.id}-error`);
      if (described.length) input.setAttribute("aria-describedby", described.join(" "));
      else input.removeAttribute("aria-describedby");
    }
  }

  // The API's 422 names the fields (`title`, `url`): each message goes by its field, tied to
  // it with aria-describedby, as the page does without script.
  function showFieldErrors(form, errors) {
    let first = null;
    let unplaced = [];
    for (const { field, message } of errors) {
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (!input) {
        unplaced.push(humane(message));
        continue;
      }
      document.getElementById(`${input.id}-error`)?.remove();
      const error = document.createElement("p");
      error.className = "field-error";
      error.id = `${input.id}-error`;
      error.dataset.fromScript = "";
      error.textContent = humane(message);
      input.before(error);
      input.closest(".field").classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      const described = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
      described.add(error.id);
      input.setAttribute("aria-describedby", [...described].join(" "));
      first = first || input;
    }
    if (first) first.focus();
    return unplaced;
  }

  const template = document.getElementById("resource-template");

  function resourceItem(resource) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.resourceId = resource.id;
    const link = item.querySelector("[data-resource-link]");
    link.href = resource.url; // http or https only: the API refuses any other scheme
    link.textContent = resource.title;
    item.querySelector("[data-resource-kind]").textContent = `(${resource.kind})`;
    const form = item.querySelector("form");
    form.action = `/roadmaps/${enc(slug)}/resources/${enc(resource.id)}/delete#topic-${resource.topic_id}`;
    form.querySelector('input[name="topic_id"]').value = resource.topic_id;
    item.querySelector("[data-resource-name]").textContent = ` ${resource.title}`;
    return item;
  }

  for (const form of root.querySelectorAll("[data-resource-form]")) {
    const id = form.dataset.topicId;
    const section = form.closest("[data-hook=resources]");
    const message = form.querySelector("[data-resource-message]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFieldErrors(form);
      say(message, "Adding…");
      const data = Object.fromEntries(["title", "url", "kind"].map((n) => [n, form.elements[n].value]));
      try {
        const response = await send("POST", api(`resources/${enc(slug)}/${enc(id)}`), { json: data });
        const resource = await response.json();
        section.querySelector("[data-resource-list]").append(resourceItem(resource));
        section.querySelector("[data-resources-empty]").hidden = true;
        form.elements.title.value = "";
        form.elements.url.value = "";
        say(message, `Added “${resource.title}”.`);
        announce(`Resource added: ${resource.title}.`);
      } catch (failure) {
        const errors = failure.status === 422 && failure.problem.errors;
        const rest = errors ? showFieldErrors(form, errors) : [failure.message];
        say(message, rest.length ? rest.join(" ") : "Please correct the fields marked above.", { error: true });
      }
    });
  }

  root.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches("[data-resource-delete]")) return;
    event.preventDefault();
    const item = form.closest("[data-resource-id]");
    const section = form.closest("[data-hook=resources]");
    const message = section.querySelector("[data-resource-message]");
    const title = item.querySelector("a").textContent;
    try {
      await send("DELETE", api(`resources/${enc(item.dataset.resourceId)}`));
      item.remove();
      section.querySelector("[data-resources-empty]").hidden =
        section.querySelector("[data-resource-list]").children.length > 0;
      section.querySelector("h3").setAttribute("tabindex", "-1");
      section.querySelector("h3").focus();
      say(message, `Removed “${title}”.`);
      announce(`Resource removed: ${title}.`);
    } catch (failure) {
      say(message, failure.message, { error: true });
    }
  });
})();
