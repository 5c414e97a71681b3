// The sequence builder: steps are dragged into order (SortableJS) or moved with their up/down
// buttons without a round trip; the form submits the steps in the order they stand. Without
// JavaScript the buttons submit the form and the server moves the step instead.
(function () {
  "use strict";
  function renumber(list) {
    var steps = list.querySelectorAll("[data-step]");
    steps.forEach(function (step, index) {
      var label = step.querySelector("[data-step-number]");
      if (label) label.textContent = "Step " + (index + 1);
      step.querySelectorAll("[data-step-label]").forEach(function (span) {
        span.textContent = " step " + (index + 1);
      });
      step.querySelectorAll("button[name=op]").forEach(function (button) {
        button.value = button.value.split(":")[0] + ":" + index;
      });
    });
  }
  function sortable(list, tries) {
    if (list.dataset.sortable) return;
    if (!window.Sortable) {
      if (tries < 50) setTimeout(function () { sortable(list, tries + 1); }, 100);
      return;
    }
    list.dataset.sortable = "1";
    window.Sortable.create(list, { handle: ".drag-handle", animation: 150, forceFallback: true, onEnd: function () { renumber(list); } });
  }
  function setUp() {
    var list = document.getElementById("sequence-steps");
    if (!list || list.dataset.ready) return;
    list.dataset.ready = "1";
    sortable(list, 0);
    list.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-move]");
      if (!button) return;
      var step = button.closest("[data-step]");
      var other = button.getAttribute("data-move") === "up" ? step.previousElementSibling : step.nextElementSibling;
      event.preventDefault();
      if (!other) return;
      if (button.getAttribute("data-move") === "up") list.insertBefore(step, other);
      else list.insertBefore(other, step);
      renumber(list);
      button.focus();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
  document.addEventListener("htmx:load", setUp);
  window.addEventListener("load", setUp);
})();
