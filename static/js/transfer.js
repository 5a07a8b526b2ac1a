/* The payee's withdrawal page (templates/promoter/withdrawal.html): the 确认收款 button hands
   the payout's package to WeChat's requestMerchantTransfer (商家转账 用户确认模式), and the page
   polls the withdrawal until the provider's notification settles it. Everything comes in
   data-* attributes (strict CSP: no inline code). WeChat's answer to the call only says the
   page was shown; the notification decides. Loaded once (app.js's data-scripts), it sets up
   each such page as it arrives, by a full load or an htmx swap. */
(function () {
  "use strict";

  function start() {
    var box = document.querySelector("[data-transfer-status-url]");
    if (!box || box.dataset.started) return;
    box.dataset.started = "1";
    var url = box.getAttribute("data-transfer-status-url");
    var params = box.getAttribute("data-transfer");
    var button = document.querySelector("[data-transfer-confirm]");
    var label = document.querySelector("[data-transfer-state]");
    var state = label ? label.getAttribute("data-transfer-state") : "";

    function say(text) { if (label && text) label.textContent = text; }

    if (button && params) {
      button.addEventListener("click", function () {
        if (!window.WeixinJSBridge) { say(box.getAttribute("data-text-outside")); return; }
        button.disabled = true;
        window.WeixinJSBridge.invoke("requestMerchantTransfer", JSON.parse(params), function (res) {
          button.disabled = false;
          var ok = res && res.err_msg === "requestMerchantTransfer:ok";
          say(box.getAttribute(ok ? "data-text-sent" : "data-text-cancelled"));
          tries = 0;
          window.setTimeout(poll, 2000);
        });
      });
    }

    var tries = 0;
    function poll() {
      tries += 1;
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.state !== state) { window.location.reload(); return; }
          if (tries < 200) window.setTimeout(poll, tries < 20 ? 3000 : 10000);
        })
        .catch(function () { if (tries < 200) window.setTimeout(poll, 10000); });
    }
    if (state === "paying") window.setTimeout(poll, 3000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  document.addEventListener("htmx:afterSettle", start);
})();
