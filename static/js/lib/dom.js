/* Building the page's elements: every text goes in through textContent, never innerHTML (names and
 * addresses come from customers' imports, messages from the server). */

export function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
