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
