/* Texts in the active language, for every script of ours that shows words.
 *
 * /jsi18n/ (templates/base.html) defines gettext on the page; a map's frame (an iframe srcdoc of
 * dispatch/maps/drawing.py) has no catalog of its own and borrows its page's. Without either, the English
 * msgid. Each document that imports this module gets its own copy, so `window` is that document's.
 */

var catalog = (function () {
  try {
    if (window.gettext) return window;
    if (window.parent && window.parent !== window && window.parent.gettext) return window.parent;
  } catch (error) { /* a frame of another origin */ }
  return null;
})();

export function gettext(text) {
  return catalog ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  return catalog ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
}

// Django's named placeholders, "%(name)s", filled from `values`.
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
}
