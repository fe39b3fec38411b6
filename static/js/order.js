/* An order's page (templates/dispatch/order_detail.html): asks before a destructive action, and opens
 * the action named in the address (#action-reschedule) so a link can lead straight to it. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var button = event.submitter || event.target.querySelector("[data-confirm]");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
  var wanted = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (wanted && wanted.tagName === "DETAILS") wanted.open = true;
})();
