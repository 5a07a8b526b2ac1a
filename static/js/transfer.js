/* The payee's withdrawal page (templates/promoter/withdrawal.html): the 确认收款 button hands
   the payout's package to WeChat's requestMerchantTransfer (商家转账 用户确认模式), and the page
   polls the withdrawal until the provider's notification settles it. Everything comes in
   data-* attributes (strict CSP: no inline code). WeChat lets a page call the API only after
   the page's wx.config (JS-SDK, static/js/vendor/jweixin-1.6.0.js, signed by the server for
   this URL) is verified; WeChat on iOS verifies the URL the page was first loaded with, so a
   page reached by an htmx navigation loads itself once more before configuring. WeChat's
   answer to the call only says the page was shown; the notification decides. Loaded once
   (app.js's data-scripts), it sets up each such page as it arrives, by a full load or an
   htmx swap. */
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
      var config = box.getAttribute("data-wx-config");
      var ready = !config;  // no config to wait for: call the bridge as it is
      var failed = false;
      var waiting = null;
      if (config && window.wx) {
        if (!landedHere()) { window.location.reload(); return; }
        window.wx.config(JSON.parse(config));
        window.wx.ready(function () {
          ready = true;
          if (waiting) { var go = waiting; waiting = null; go(); }
        });
        window.wx.error(function () {
          failed = true;
          waiting = null;
          button.disabled = false;
          say(box.getAttribute("data-text-config-failed"));
        });
      }

      var transfer = function () {
        window.WeixinJSBridge.invoke("requestMerchantTransfer", JSON.parse(params), function (res) {
          button.disabled = false;
          var ok = res && res.err_msg === "requestMerchantTransfer:ok";
          say(box.getAttribute(ok ? "data-text-sent" : "data-text-cancelled"));
          tries = 0;
          window.setTimeout(poll, 2000);
        });
      };
      var confirm = function () {
        if (!config || !window.wx) { transfer(); return; }
        window.wx.checkJsApi({
          jsApiList: ["requestMerchantTransfer"],
          success: function (res) {
            var result = res && res.checkResult;
            if (result && result.requestMerchantTransfer === false) {
              button.disabled = false;
              say(box.getAttribute("data-text-unsupported"));
              return;
            }
            transfer();
          },
          fail: transfer
        });
      };

      button.addEventListener("click", function () {
        if (!window.WeixinJSBridge) { say(box.getAttribute("data-text-outside")); return; }
        if (failed) { say(box.getAttribute("data-text-config-failed")); return; }
        button.disabled = true;
        if (ready) confirm();
        else waiting = confirm;
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

  // Whether this document was loaded at the address it shows (not reached by pushState).
  function landedHere() {
    var entries = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    if (!entries.length) return true;
    return entries[0].name.split("#")[0] === window.location.href.split("#")[0];
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  document.addEventListener("htmx:afterSettle", start);
})();
