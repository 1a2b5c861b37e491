// Enhancements for every page; each page works without them.
"use strict";

// The theme switch: applied at once, remembered by the same POST the form sends without
// script (the server sets the cookie), without leaving the page.
(() => {
  const form = document.querySelector("form[data-theme-form]");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (!button || button.name !== "theme") return;
    event.preventDefault();
    const theme = button.value;
    const root = document.documentElement;
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
    for (const other of form.querySelectorAll("button[name=theme]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    const body = new FormData(form, button);
    fetch(form.action, { method: "POST", body, redirect: "manual", credentials: "same-origin" })
      .catch(() => form.submit());
  });
})();

// The navigation's bell follows the unread count live (live.js): on a notification made or
// read, or when the stream asks for a refetch, the count is read again from the API rather
// than worked out from events that may come in any order across processes.
(() => {
  const bell = document.querySelector("a.bell");
  if (!bell) return;
  const label = bell.firstChild.textContent.trim();
  const shown = () => Number(bell.querySelector(".count")?.firstChild.textContent || 0);

  // As `_bell.html` draws it.
  function paint(unread) {
    if (!unread) {
      bell.replaceChildren(label);
      return;
    }
    const count = document.createElement("span");
    count.className = "count";
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = " unread";
    count.append(String(unread), words);
    bell.replaceChildren(`${label} `, count);
  }

  let refetch = null;
  async function read() {
    const answer = await fetch("/api/v1/me/notifications?limit=1", { credentials: "same-origin" });
    if (!answer.ok) return;
    const { unread } = await answer.json();
    const before = shown();
    paint(unread);
    if (unread > before) window.waymarkLive.announce(`New notification: ${unread} unread.`);
  }

  document.addEventListener("waymark:live", (event) => {
    const { kind, channel } = event.detail;
    if (kind.startsWith("notifications.") || (kind === "resync" && channel.startsWith("user:"))) {
      refetch = refetch || window.waymarkLive.latest(read);
      refetch();
    }
  });
})();
