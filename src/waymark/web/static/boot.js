// Runs before the page is drawn: says that scripts run, so the stylesheet can hand the
// topic panels from `:target` over to roadmap.js without a flash.
document.documentElement.classList.add("js");
