/* The notification template editor (customers/admin.py, templates/admin/customers/notificationtemplate/).
 *
 * The preview follows what the manager types: the form's event, channel, language, subject and body
 * go to the admin's preview view (POST, the form's CSRF token), which answers with the message filled
 * with a sample order, rendered by the server (Django's templates escape it) as one fragment.
 * "Send a test to me" posts the subject and body as typed to the test view, once per click (the
 * button stays disabled until the answer), and shows what the server says.
 *
 * Words come from the project's catalog (djangojs.po), which the change form's admin:jsi18n serves.
 */
(function () {
  "use strict";

  function gettext(text) {
    return window.gettext ? window.gettext(text) : text;
  }

  // Django's named placeholders, "%(name)s", filled from `values`.
  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  }

  var FIELDS = ["event", "channel", "language", "subject", "body"];
  var DELAY_MS = 300;

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, form, names) {
    var body = new FormData();
    names.forEach(function (name) {
      var field = form.elements[name];
      if (field) body.append(name, field.value);
    });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: body,
    }).then(
      function (response) {
        return response.json().then(
          function (data) {
            return { ok: response.ok, status: response.status, data: data };
          },
          function () {
            var detail = interpolate(gettext("The server answered %(status)s."), { status: response.status });
            return { ok: false, status: response.status, data: { detail: detail } };
          }
        );
      },
      function () {
        return { ok: false, status: 0, data: { detail: gettext("The server could not be reached; check the connection.") } };
      }
    );
  }

  function setUp(panel) {
    var form = panel.closest("form");
    if (!form) return;
    var output = panel.querySelector("[data-preview-output]");
    var button = panel.querySelector("[data-test-send]");
    var result = panel.querySelector("[data-test-result]");
    var timer = null;
    var asked = 0;

    function refresh() {
      var mine = ++asked;
      post(panel.dataset.previewUrl, form, FIELDS).then(function (answer) {
        if (mine !== asked) return; // a later keystroke's preview is on its way
        if (answer.ok) {
          // The server's fragment: every value in it was escaped by Django's templates.
          output.innerHTML = answer.data.html;
        } else {
          var message = document.createElement("p");
          message.className = "message-preview-error";
          message.textContent = answer.data.detail || gettext("No preview.");
          output.replaceChildren(message);
        }
      });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DELAY_MS);
    }

    FIELDS.forEach(function (name) {
      var field = form.elements[name];
      if (!field) return;
      field.addEventListener("input", later);
      field.addEventListener("change", later);
    });
    refresh(); // after a refused save the form holds text that differs from the saved one

    if (button && panel.dataset.testSendUrl) {
      button.addEventListener("click", function () {
        button.disabled = true;
        result.className = "message-preview-result";
        result.textContent = gettext("Sending…");
        post(panel.dataset.testSendUrl, form, ["subject", "body"]).then(function (answer) {
          result.className = "message-preview-result " + (answer.ok ? "ok" : "error");
          result.textContent = answer.data.detail || (answer.ok ? gettext("Sent.") : gettext("Not sent."));
          button.disabled = false;
        });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-message-preview]"), setUp);
  });
})();
