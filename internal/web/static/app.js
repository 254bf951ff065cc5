// Comfort only: every page works without this file.
"use strict";
document.querySelectorAll("[data-copy]").forEach(function (button) {
  var source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = source.tagName === "OL"
      ? Array.from(source.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n")
      : source.textContent.trim();
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = button.dataset.done;
    });
  });
});
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
