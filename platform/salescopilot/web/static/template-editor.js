// The email editors (template editor and composer):
// - loads the rich-text editor (Trix, from static/vendor) once, however many boosted page loads
//   include this script; file attachments are refused (emails carry images by URL);
// - the variable picker: a button inserts its tag where the cursor is in the field last focused
//   (subject, rich-text body or plain-text body; the rich-text body by default);
// - fills the browser's UTC offset into schedule forms (`tz_offset`, minutes as getTimezoneOffset).
(function () {
  "use strict";
  if (!window.Trix && !document.getElementById("trix-script")) {
    var script = document.createElement("script");
    script.id = "trix-script";
    script.src = "/static/core/vendor/trix.umd.min.js";
    document.head.appendChild(script);
  }
  if (window.__emailEditorBound) return;
  window.__emailEditorBound = true;

  var last = null;
  document.addEventListener("trix-file-accept", function (event) { event.preventDefault(); });
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target.hasAttribute && target.hasAttribute("data-variable-target")) last = target;
    else if (target.tagName === "TRIX-EDITOR") last = target;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-insert]");
    if (!button) return;
    var text = button.getAttribute("data-insert");
    var field = last && document.contains(last) ? last : (document.querySelector("trix-editor") || document.getElementById("t-text"));
    if (!field || field.disabled) return;
    if (field.tagName === "TRIX-EDITOR") {
      field.focus();
      field.editor.insertString(text);
      return;
    }
    var start = field.selectionStart || 0, end = field.selectionEnd || 0;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
    field.dispatchEvent(new Event("change", { bubbles: true }));
  });
  function fillOffsets() {
    var fields = document.querySelectorAll("input[name='tz_offset']");
    for (var i = 0; i < fields.length; i++) fields[i].value = String(new Date().getTimezoneOffset());
  }
  document.addEventListener("DOMContentLoaded", fillOffsets);
  document.addEventListener("htmx:load", fillOffsets);
  document.addEventListener("submit", fillOffsets, true);
  fillOffsets();
})();
