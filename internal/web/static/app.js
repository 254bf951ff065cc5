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
// Resend cooldown: the page already says how long to wait; here the button
// stays disabled and the sentence counts down until a new code may be asked for.
document.querySelectorAll("[data-countdown]").forEach(function (note) {
  var left = parseInt(note.dataset.countdown, 10);
  var button = document.getElementById(note.dataset.button);
  if (!button || !(left > 0)) return;
  button.disabled = true;
  var timer = window.setInterval(function () {
    left -= 1;
    if (left <= 0) {
      window.clearInterval(timer);
      note.hidden = true;
      button.disabled = false;
      button.removeAttribute("aria-describedby");
      return;
    }
    note.textContent = (left === 1 ? note.dataset.singular : note.dataset.plural).replace("{n}", String(left));
  }, 1000);
});
// The phone number's example follows the country chosen (the page as served
// shows the example of the country selected then).
(function () {
  var list = document.getElementById("country");
  var hint = document.getElementById("phone-hint");
  if (!list || !hint || !hint.dataset.example) return;
  list.addEventListener("change", function () {
    var o = list.options[list.selectedIndex];
    hint.textContent = o && o.dataset.national
      ? hint.dataset.example.replace("{n}", o.dataset.national).replace("{i}", o.dataset.international)
      : hint.dataset.any;
  });
})();
