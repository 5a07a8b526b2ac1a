/* The buyer's payment page (templates/shop/payment.html): opens the provider's page,
   starts WeChat's in-app payment, and polls the order's status until it is paid, failed
   or closed. Everything it needs comes in data-* attributes (strict CSP: no inline code). */
(function () {
  "use strict";

  function start() {
    var box = document.querySelector("[data-pay-status-url]");
    if (!box) return;
    var url = box.getAttribute("data-pay-status-url");
    var done = box.getAttribute("data-pay-done-url");
    var go = box.getAttribute("data-pay-go");
    var jsapi = box.getAttribute("data-pay-jsapi");
    var label = document.querySelector("[data-pay-state]");
    var texts = {
      paid: box.getAttribute("data-text-paid"),
      failed: box.getAttribute("data-text-failed"),
      closed: box.getAttribute("data-text-closed")
    };

    if (go && box.getAttribute("data-pay-auto") === "1") {
      window.location.assign(go);
    }
    if (jsapi) {
      var invoke = function () {
        if (!window.WeixinJSBridge) return;
        window.WeixinJSBridge.invoke("getBrandWCPayRequest", JSON.parse(jsapi), function () { poll(); });
      };
      if (window.WeixinJSBridge) invoke();
      else document.addEventListener("WeixinJSBridgeReady", invoke, false);
    }

    var tries = 0;
    function poll() {
      tries += 1;
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && texts[data.status] && label) {
            label.textContent = texts[data.status];
            label.setAttribute("data-pay-state", data.status);
          }
          if (data && (data.status === "paid" || data.status === "closed")) {
            window.setTimeout(function () { window.location.assign(done); }, 1200);
            return;
          }
          if (tries < 200) window.setTimeout(poll, tries < 20 ? 3000 : 10000);
        })
        .catch(function () { if (tries < 200) window.setTimeout(poll, 10000); });
    }
    window.setTimeout(poll, 3000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
