// A team's page, live (live.js): when a member marks a topic of the roadmap shown, or the
// members change, the progress section's numbers (everyone together, each member's row, the
// heat map) are drawn again by the server: the page is fetched and those parts are moved in,
// what the visitor opened or focused kept as it was. Members whose progress changed are
// announced politely. When the team's channel closes (the visitor may no longer see its
// progress), the section says that live updates stopped.
//
// Without this script (or without live.js's stream) the page is as it was drawn.
"use strict";

(() => {
  const section = document.querySelector("[data-live-team]");
  if (!section || !window.waymarkLive) return;
  const { announce, latest } = window.waymarkLive;
  const team = section.dataset.liveTeam;
  const roadmap = section.dataset.liveRoadmap;
  const channel = `team:${team}`;
  const here = `/teams/${encodeURIComponent(team)}?roadmap=${encodeURIComponent(roadmap)}`;
  const FOCUSABLE = "a[href], button, summary, input, select, textarea, [tabindex]";
  const PROGRESS = ["progress.topic_status_changed", "progress.restored", "progress.roadmap_completed"];

  const rows = () => new Map(
    [...section.querySelectorAll("tr[data-member]")].map((row) => [
      row.dataset.member,
      { name: row.querySelector("th").textContent.trim(), percentage: row.querySelector("[data-percentage]").textContent.trim() },
    ]),
  );

  function moveIn(part, drawn) {
    for (const [index, details] of [...part.querySelectorAll("details")].entries()) {
      const twin = drawn.querySelectorAll("details")[index];
      if (twin && details.open) twin.open = true;
    }
    const focused = [...part.querySelectorAll(FOCUSABLE)].indexOf(document.activeElement);
    const fresh = document.importNode(drawn, true);
    part.replaceWith(fresh);
    if (focused >= 0) {
      const twin = fresh.querySelectorAll(FOCUSABLE)[focused];
      if (twin) twin.focus({ preventScroll: true });
    }
  }

  async function redraw() {
    const answer = await fetch(here, { credentials: "same-origin" });
    if (!answer.ok) return;
    // Our own server's page, parsed inert (nothing in it runs) and moved in part by part.
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const drawn = page.querySelector(`[data-live-team="${CSS.escape(team)}"]`);
    if (!drawn || drawn.dataset.liveRoadmap !== roadmap) return;
    const before = rows();
    for (const part of section.querySelectorAll("[data-live-part]")) {
      const twin = drawn.querySelector(`[data-live-part="${CSS.escape(part.dataset.livePart)}"]`);
      if (twin) moveIn(part, twin);
    }
    const changed = [...rows()]
      .filter(([member, row]) => !before.has(member) || before.get(member).percentage !== row.percentage)
      .map(([, row]) => `${row.name}: ${row.percentage}`);
    if (changed.length) announce(`Team progress changed: ${changed.join(", ")}.`);
  }

  const redrawn = latest(redraw);
  document.addEventListener("waymark:live", (event) => {
    const { kind, data } = event.detail;
    if (event.detail.channel !== channel) return;
    if (kind === "channel-closed") {
      section.querySelector("[data-live-stopped]").hidden = false;
      announce("Live updates of this team's progress have stopped.");
    } else if (kind === "resync" || kind === "teams.membership-changed" || (PROGRESS.includes(kind) && data.roadmap === roadmap)) {
      redrawn();
    }
  });
})();
