// The template editor's variable picker: a button inserts its tag where the cursor is in the
// subject or body field last focused (the text body by default).
(function () {
  "use strict";
  var last = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-variable-target")) last = event.target;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-insert]");
    if (!button) return;
    var field = last || document.getElementById("t-text");
    if (!field || field.disabled) return;
    var text = button.getAttribute("data-insert");
    var start = field.selectionStart || 0, end = field.selectionEnd || 0;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
  });
})();
