// distweb — the one script of the app shell. No inline scripts anywhere (strict CSP).
(function () {
  "use strict";

  // Service worker: makes the promoter app installable and gives it an offline page.
  if ("serviceWorker" in navigator && document.body && document.body.dataset.sw) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register(document.body.dataset.sw, { scope: "/" }).catch(function () {});
    });
  }

  // Toasts fade out on their own.
  function scheduleToasts(root) {
    (root || document).querySelectorAll(".toast:not([data-timed])").forEach(function (toast) {
      toast.dataset.timed = "1";
      setTimeout(function () {
        toast.classList.add("leaving");
        setTimeout(function () { toast.remove(); }, 400);
      }, 3500);
    });
  }

  function toast(message) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast";
    el.setAttribute("role", "status");
    el.textContent = message;
    box.appendChild(el);
    scheduleToasts(box);
  }
  window.distwebToast = toast;

  // Copy text: the Clipboard API where the page may use it, else a hidden textarea (older
  // WebViews, WeChat). Resolves either way; share.js uses it too.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { fallbackCopy(text); });
    }
    fallbackCopy(text);
    return Promise.resolve();
  }
  window.distwebCopy = copyText;

  // Copy buttons: <button data-copy="text" data-copied="已复制">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    copyText(button.dataset.copy).then(function () { toast(button.dataset.copied || "OK"); });
  });

  // Share buttons: <button data-share-url data-share-title data-share-text data-copied>.
  // The Web Share API where the phone has it; otherwise copy text + link with a toast.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-share-url]");
    if (!button) return;
    var data = { title: button.dataset.shareTitle || "", text: button.dataset.shareText || "", url: button.dataset.shareUrl };
    if (navigator.share) {
      navigator.share(data).catch(function () { /* cancelled by the user */ });
      return;
    }
    var text = (data.text ? data.text + " " : "") + data.url;
    copyText(text).then(function () { toast(button.dataset.copied || "OK"); });
  });

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    area.remove();
  }

  // Offline: a boosted link (a tab, a list entry) that cannot reach the server opens its page
  // in full instead, so the service worker answers with the offline page; any other htmx
  // request that cannot be sent says so in a toast. (Without this, a tap did nothing.)
  function openInFull(detail) {
    var config = detail.requestConfig || {};
    var path = detail.pathInfo && detail.pathInfo.requestPath;
    if (!config.boosted || String(config.verb).toLowerCase() !== "get" || !path) return false;
    window.location.assign(path);
    return true;
  }
  // Known offline: not even tried (the phone says there is no network).
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (navigator.onLine !== false) return;
    var detail = event.detail || {};
    if (openInFull(detail)) { event.preventDefault(); return; }
    event.preventDefault();  // a poll waits for the network; something the user did is told why
    if (detail.requestConfig && String(detail.requestConfig.verb).toLowerCase() !== "get") {
      toast(document.body.dataset.offline || "Offline");
    }
  });
  // Tried and failed (a network that looked up but is not).
  document.addEventListener("htmx:sendError", function (event) {
    if (!openInFull(event.detail || {})) toast(document.body.dataset.offline || "Offline");
  });

  // Install prompt (Android/Chromium) and the 添加到主屏幕 guide (iOS Safari).
  var deferredPrompt = null;
  var standalone = window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
  var isIOS = /iphone|ipad|ipod/i.test(navigator.userAgent) && !window.MSStream;

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    deferredPrompt = event;
    showInstall();
  });

  function showInstall() {
    var card = document.getElementById("install-card");
    if (!card || standalone) return;
    var button = document.getElementById("install-button");
    var guide = document.getElementById("ios-guide");
    if (deferredPrompt && button) {
      card.hidden = false;
      button.hidden = false;
    } else if (isIOS && guide) {
      card.hidden = false;
      guide.hidden = false;
    }
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#install-button") || !deferredPrompt) return;
    deferredPrompt.prompt();
    deferredPrompt.userChoice.finally(function () {
      deferredPrompt = null;
      var card = document.getElementById("install-card");
      if (card) card.hidden = true;
    });
  });

  // Self-refreshing lists (data-poll-visible) rest while the tab is hidden: no traffic from
  // a phone in a pocket. (An hx-trigger filter would need eval, which the CSP forbids.)
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.hasAttribute("data-poll-visible")) event.preventDefault();
  });

  // A double tap on "withdraw" sends one request: the button rests until the answer comes.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("[data-disable-on-submit]");
    if (button) {
      if (button.dataset.busy) { event.preventDefault(); return; }
      button.dataset.busy = "1";
      setTimeout(function () { delete button.dataset.busy; }, 5000);
    }
  }, true);

  // Web Push on the 通知设置 page (#push-card): subscribe this browser, or stop.
  function base64UrlToBytes(value) {
    var padded = (value + "===".slice((value.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function postJson(url, data) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(data),
      headers: { "Content-Type": "application/json", "X-CSRFToken": meta ? meta.content : "" }
    }).then(function (response) { return response.json(); });
  }

  function setupPush() {
    var card = document.getElementById("push-card");
    if (!card || card.dataset.ready) return;
    card.dataset.ready = "1";
    var on = card.querySelector('[data-push="on"]');
    var off = card.querySelector('[data-push="off"]');
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      card.querySelector("[data-push-unsupported]").hidden = false;
      return;
    }
    if (Notification.permission === "denied") card.querySelector("[data-push-denied]").hidden = false;
    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription().then(function (subscription) {
        on.hidden = !!subscription;
        off.hidden = !subscription;
        on.onclick = function () {
          Notification.requestPermission().then(function (permission) {
            if (permission !== "granted") { card.querySelector("[data-push-denied]").hidden = false; return; }
            return registration.pushManager.subscribe({
              userVisibleOnly: true, applicationServerKey: base64UrlToBytes(card.dataset.vapidKey)
            }).then(function (sub) {
              return postJson(card.dataset.subscribe, sub.toJSON());
            }).then(function (answer) {
              toast(answer.message || (answer.error && answer.error.message) || "");
              on.hidden = true; off.hidden = false;
            });
          }).catch(function () { card.querySelector("[data-push-unsupported]").hidden = false; });
        };
        off.onclick = function () {
          registration.pushManager.getSubscription().then(function (sub) {
            var endpoint = sub ? sub.endpoint : null;
            return (sub ? sub.unsubscribe() : Promise.resolve()).then(function () {
              return postJson(card.dataset.unsubscribe, { endpoint: endpoint });
            });
          }).then(function (answer) {
            toast(answer.message || "");
            on.hidden = false; off.hidden = true;
          });
        };
      });
    });
  }

  // 获取验证码: after a code was sent the button rests for the resend interval, counting
  // down (<button data-resend-wait="60" data-resend-label="{n} 秒后重新获取">).
  function resendCountdown() {
    document.querySelectorAll("[data-resend-wait]:not([data-counting])").forEach(function (button) {
      button.dataset.counting = "1";
      var left = parseInt(button.dataset.resendWait, 10) || 0;
      var label = button.textContent;
      var template = button.dataset.resendLabel || "{n}";
      function tick() {
        if (!document.body.contains(button)) return;
        if (left <= 0) { button.disabled = false; button.textContent = label; return; }
        button.disabled = true;
        button.textContent = template.replace("{n}", left);
        left -= 1;
        setTimeout(tick, 1000);
      }
      tick();
      });
    }

  // Scripts only some pages need (the dashboard's charts): <div hidden data-scripts="url url">,
  // loaded in order, once each, after a full load or an htmx swap (a swapped-in <script> does
  // not run: htmx's allowScriptTags is off). Same-origin URLs only (the CSP allows nothing else).
  function loadPageScripts() {
    document.querySelectorAll("[data-scripts]").forEach(function (holder) {
      var urls = holder.dataset.scripts.split(/\s+/).filter(Boolean);
      (function next(i) {
        if (i >= urls.length) return;
        var url = new URL(urls[i], window.location.href);
        if (url.origin !== window.location.origin) return;
        var present = document.querySelector('script[data-page-script="' + url.pathname + '"]');
        if (present) {
          if (present.dataset.loaded) next(i + 1);
          else present.addEventListener("load", function () { next(i + 1); });
          return;
        }
        var script = document.createElement("script");
        script.src = url.pathname;
        script.dataset.pageScript = url.pathname;
        script.addEventListener("load", function () { script.dataset.loaded = "1"; next(i + 1); });
        document.head.appendChild(script);
      })(0);
    });
  }

  function onPage() {
    loadPageScripts();
    scheduleToasts(document);
    showInstall();
    setupPush();
    resendCountdown();
  }
  document.addEventListener("DOMContentLoaded", onPage);
  document.addEventListener("htmx:afterSettle", onPage);
  document.addEventListener("htmx:oobAfterSwap", function () { scheduleToasts(document); });
})();
