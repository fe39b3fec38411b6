/* The dashboard's pages talking to the API (/api/…): JSON both ways, the session's CSRF token
 * (<meta name="csrf-token"> in the page's head), and the API's errors shown as the API words them. */

import { gettext, interpolate } from "./i18n.js";

function csrfToken() {
  var meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Resolves with the answer's JSON (null for 204 No Content); rejects with the API's error shape
// {detail, errors}, or one in that shape when the server or the network failed before answering.
export function api(method, url, body) {
  var init = {
    method: method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(url, init).then(function (response) {
    if (response.status === 204) return null;
    return response.json().then(
      function (data) {
        if (!response.ok) throw data;
        return data;
      },
      function () {
        throw { detail: interpolate(gettext("The server answered %(status)s %(text)s"), { status: response.status, text: response.statusText }), errors: [] };
      }
    );
  }, function () {
    throw { detail: gettext("The server could not be reached. Check the connection and try again."), errors: [] };
  });
}

// The API's error shape: {detail, errors: [{field, value, message}]}.
export function showErrors(box, error) {
  if (!box) return;
  box.replaceChildren();
  var title = document.createElement("p");
  title.className = "error-title";
  title.textContent = (error && error.detail) || gettext("Something went wrong.");
  box.appendChild(title);
  var items = (error && error.errors) || [];
  if (items.length) {
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var li = document.createElement("li");
      if (item.field) {
        var field = document.createElement("b");
        field.textContent = item.field + ": ";
        li.appendChild(field);
      }
      li.appendChild(document.createTextNode(item.message));
      if (item.value !== undefined && item.value !== null && item.value !== "") {
        var value = document.createElement("code");
        value.textContent = typeof item.value === "object" ? JSON.stringify(item.value) : String(item.value);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(value);
      }
      list.appendChild(li);
    });
    box.appendChild(list);
  }
  box.hidden = false;
  box.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// A button whose request is on its way: disabled, saying what it does; idle() puts its label back.
export function busy(button, text) {
  button.dataset.label = button.dataset.label || button.textContent;
  button.disabled = true;
  button.textContent = text;
}

export function idle(button) {
  button.disabled = false;
  button.textContent = button.dataset.label;
}

// A button's POST: busy while it is on its way, then done(answer); on an error the button is idle
// again, failed(error) (when given) runs, and the error is shown in the box `errors`.
export function postFrom(button, text, url, body, errors, done, failed) {
  busy(button, text);
  return api("POST", url, body).then(done, function (error) {
    idle(button);
    if (failed) failed(error);
    showErrors(errors, error);
  });
}
