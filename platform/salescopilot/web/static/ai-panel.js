// The AI panel (templates/ai/panel.html), inside an email editor's form:
// - "Use" buttons copy a suggestion into the form: the subject field, or the body, which is the
//   rich-text editor (Trix, through `editor.loadHTML`) when the body field is its hidden input,
//   else a plain-text field; "prepend" puts the suggestion before the body. The suggestion's AI
//   draft id goes into the form's `ai_draft_id`, saved with the draft as its provenance.
// - "Write a draft" streams the generation (server-sent events read from a fetch body) into the
//   body as the model writes; the subject comes with the end event; an error restores the body.
// When the rich-text body changes, the plain-text alternative is emptied: it is made from the
// body on save.
(function () {
  "use strict";
  if (window.__aiPanelBound) return;
  window.__aiPanelBound = true;

  function panel() { return document.querySelector("[data-ai-panel]"); }
  function form() {
    var p = panel();
    return p ? p.closest("form") : null;
  }
  function field(name) {
    var f = form();
    return f && name ? f.querySelector('[name="' + name + '"]') : null;
  }
  function say(html) {
    var box = document.getElementById("ai-result");
    if (box) box.innerHTML = html;
  }
  function escape(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
  // Plain text as the editor's own HTML: one block, line breaks as <br> (blank lines separate
  // paragraphs, as Trix writes them).
  function textToHtml(text) {
    return "<div>" + escape(String(text || "").replace(/^\s+|\s+$/g, "")).replace(/\r?\n/g, "<br>") + "</div>";
  }
  function editorOf(input) {
    return input && input.id ? document.querySelector('trix-editor[input="' + input.id + '"]') : null;
  }
  // The body's current content, to put back after a failed stream.
  function snapshot(input) { return input ? input.value : ""; }
  function restore(input, before) {
    var editor = editorOf(input);
    if (editor && editor.editor) editor.editor.loadHTML(before);
    else if (input) input.value = before;
  }
  function writeBody(input, text, mode) {
    if (!input) return;
    var editor = editorOf(input);
    if (editor && editor.editor) {
      var html = textToHtml(text);
      editor.editor.loadHTML(mode === "prepend" ? html + "<div><br></div>" + input.value : html);
      var plain = field("text");
      if (plain && plain !== input) plain.value = "";
      return;
    }
    input.value = mode === "prepend" ? text + "\n\n" + input.value : text;
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }
  function writeSubject(input, text) {
    if (!input) return;
    input.value = text;
    input.dispatchEvent(new Event("input", {bubbles: true}));
  }
  // Body content points the draft's provenance at its AI draft; a subject line alone only when
  // nothing else AI-written is there.
  function remember(draftId, isBody) {
    var kept = field("ai_draft_id");
    if (kept && draftId && (isBody || !kept.value)) kept.value = draftId;
  }
  // "Subject: ...\n\nbody" as it streams: the subject line is held back from the body.
  function splitDraft(text) {
    var trimmed = text.replace(/^\s+/, "");
    var match = /^\**subject\**\s*:\s*(.*?)\r?\n([\s\S]*)$/i.exec(trimmed);
    if (match) return {subject: match[1].trim(), body: match[2]};
    if (/^\**s(u(b(j(e(c(t)?)?)?)?)?)?/i.test(trimmed) && trimmed.indexOf("\n") < 0) return {subject: "", body: ""};
    return {subject: "", body: text};
  }
  function leadId() {
    var chosen = document.getElementById("ai-lead");
    if (chosen && chosen.value) return chosen.value;
    var recipients = field("leads");
    if (recipients && recipients.selectedOptions && recipients.selectedOptions.length) return recipients.selectedOptions[0].value;
    return null;
  }
  function value(id) {
    var element = document.getElementById(id);
    return element ? element.value : "";
  }

  document.addEventListener("click", function (event) {
    var apply = event.target.closest && event.target.closest("[data-ai-apply]");
    if (apply) {
      var p = panel();
      var source = document.querySelector(apply.getAttribute("data-ai-apply"));
      var name = apply.getAttribute("data-ai-field");
      var target = field(name);
      var isBody = p && name === p.getAttribute("data-ai-body-field");
      if (source && target) {
        if (isBody) writeBody(target, source.value, apply.getAttribute("data-ai-mode"));
        else writeSubject(target, source.value);
      }
      var subject = apply.getAttribute("data-ai-subject");
      var subjectTarget = subject && field(apply.getAttribute("data-ai-subject-field"));
      if (subjectTarget && document.querySelector(subject)) writeSubject(subjectTarget, document.querySelector(subject).value);
      remember(apply.getAttribute("data-ai-draft"), isBody);
      var shown = editorOf(target) || target;
      if (shown) shown.focus();
      say('<p role="status">Used. Save the draft to keep it.</p>');
      return;
    }
    var button = event.target.closest && event.target.closest("[data-ai-stream]");
    if (!button) return;
    event.preventDefault();
    var p = panel();
    var body = field(p.getAttribute("data-ai-body-field"));
    var subjectField = field(p.getAttribute("data-ai-subject-field"));
    var token = document.querySelector('meta[name="csrf-token"]');
    var payload = {brief: value("ai-brief"), tone: value("ai-tone") || "friendly", length: value("ai-length") || "medium"};
    var lead = leadId();
    if (lead) payload.leadId = lead;
    var before = snapshot(body);
    var text = "";
    button.disabled = true;
    say('<p class="muted" role="status">Writing…</p>');
    fetch(button.getAttribute("data-ai-stream"), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token ? token.content : ""},
      body: JSON.stringify(payload)
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (data) {
          var error = new Error(data.error ? data.error.message : "The AI request failed.");
          error.code = data.error ? data.error.code : "";
          throw error;
        });
      }
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, {stream: true});
          var events = buffer.split(/\r?\n\r?\n/);
          buffer = events.pop();
          events.forEach(function (raw) {
            var kind = "message", data = "";
            raw.split(/\r?\n/).forEach(function (line) {
              if (line.indexOf("event:") === 0) kind = line.slice(6).trim();
              else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
            });
            if (!data) return;
            var message = JSON.parse(data);
            if (kind === "delta") {
              text += message.text;
              writeBody(body, splitDraft(text).body);
            } else if (kind === "done") {
              writeBody(body, message.body);
              if (message.subject) writeSubject(subjectField, message.subject);
              remember(message.provenance.draftId, true);
              say('<p role="status">Draft written by ' + escape(message.provenance.model) + " (prompt " +
                  escape(message.provenance.promptVersion) + "). Save the draft to keep it.</p>");
            } else if (kind === "error") {
              restore(body, before);
              say('<div class="alert alert-error" role="alert"><p>' + escape(message.message) + "</p></div>");
            }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function (error) {
      restore(body, before);
      var link = error.code === "AI_NOT_CONFIGURED" ? ' <a href="/settings/ai">AI settings</a>' : "";
      say('<div class="alert alert-error" role="alert"><p>' + escape(error.message) + link + "</p></div>");
    }).finally(function () { button.disabled = false; });
  });
})();
