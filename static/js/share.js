// distweb — one-tap sharing of materials (素材). No inline scripts (strict CSP).
//
// A tap on [data-material-share]:
//   - inside WeChat's in-app browser: copy the text + link and show how to share from
//     WeChat's own ··· menu (a web page cannot open WeChat's share sheet itself);
//   - where the Web Share API can take files: share the text, the link and the poster PNG;
//   - where it can share only text: share the text and the link;
//   - otherwise: copy the text + link (toast) and show the poster to long-press / save.
// Every tap is reported to data-track with the channel used.
(function () {
  "use strict";

  var inWeChat = /MicroMessenger/i.test(navigator.userAgent);

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function track(button, channel) {
    var url = button.dataset.track;
    if (!url) return;
    var body = new URLSearchParams();
    body.set("channel", channel);
    fetch(url, {
      method: "POST", body: body, credentials: "same-origin", keepalive: true,
      headers: { "X-CSRFToken": csrfToken() }
    }).catch(function () { /* a lost count is not worth bothering the user */ });
  }

  function toast(message) {
    if (window.distwebToast) window.distwebToast(message);
  }

  function copy(text) {
    return window.distwebCopy(text);  // app.js: Clipboard API, or the textarea fallback
  }

  function fullText(button) {
    var text = button.dataset.text || "";
    var link = button.dataset.link || "";
    return text.indexOf(link) >= 0 ? text : (text ? text + "\n" : "") + link;
  }

  // The text without the link, for a share that passes the link as its url: targets that
  // join text and url would otherwise show the link twice.
  function textBesideLink(button) {
    var text = button.dataset.text || "";
    var link = button.dataset.link || "";
    if (link) text = text.split(link).join("");
    return text.replace(/[\s:：]+$/, "").trim();
  }

  function openSheet(id, posterUrl) {
    var sheet = document.getElementById(id);
    if (!sheet) return;
    var img = sheet.querySelector(".sheet-poster");
    if (img && posterUrl) { img.src = posterUrl; img.hidden = false; }
    var download = sheet.querySelector("[data-sheet-download]");
    if (download && posterUrl) download.href = posterUrl + "?save=1";
    sheet.hidden = false;
  }

  function posterFile(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("poster " + response.status);
      return response.blob();
    }).then(function (blob) {
      return new File([blob], "poster.png", { type: "image/png" });
    });
  }

  function fallback(button) {
    copy(fullText(button)).then(function () {
      toast(button.dataset.copied || "OK");
      track(button, "copy");
      if (button.dataset.poster) openSheet("poster-sheet", button.dataset.poster);
    });
  }

  function share(button) {
    var title = button.dataset.title || "";
    var text = fullText(button);
    if (inWeChat) {
      copy(text).then(function () {
        track(button, "wechat");
        openSheet("wechat-guide", button.dataset.poster);
      });
      return;
    }
    if (!navigator.share) { fallback(button); return; }
    var textOnly = function () {
      return navigator.share({ title: title, text: text });
    };
    var withPoster = button.dataset.poster && navigator.canShare
      ? posterFile(button.dataset.poster).then(function (file) {
          var data = { title: title, text: textBesideLink(button), url: button.dataset.link, files: [file] };
          if (navigator.canShare(data)) return navigator.share(data);
          return textOnly();
        }, textOnly)
      : textOnly();
    withPoster.then(function () { track(button, "web_share"); }, function (error) {
      // AbortError: the user closed the share sheet; anything else: share failed, copy instead.
      if (!error || error.name !== "AbortError") fallback(button);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-material-share]");
    if (button && !button.disabled) { share(button); return; }
    var copyButton = event.target.closest("[data-material-copy]");
    if (copyButton && !copyButton.disabled) {
      var card = copyButton.closest(".material");
      var shareButton = card && card.querySelector("[data-material-share]");
      if (shareButton) {
        copy(fullText(shareButton)).then(function () {
          toast(shareButton.dataset.copied || "OK");
          track(shareButton, "copy");
        });
      }
      return;
    }
    var closer = event.target.closest("[data-sheet-close]");
    if (closer) {
      var sheet = closer.closest(".sheet");
      if (sheet) sheet.hidden = true;
    }
  });
})();
