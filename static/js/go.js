/* A page that only leads elsewhere (templates/promoter/wechat_bind_go.html): follows its
   [data-auto-go] link at once. A form post cannot be redirected off the site (the CSP's
   form-action 'self'), so the page it answers with goes on by itself. */
(function () {
  "use strict";
  function go() {
    var link = document.querySelector("a[data-auto-go]");
    if (link) window.location.assign(link.href);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
})();
