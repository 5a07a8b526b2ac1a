// distweb — drag to reorder (the manager's material library and a material's pictures).
// <tbody|ul data-sortable="POST url" data-saved="message"> with children
// <… class="sortable-row" draggable="true" data-id="…">; [data-move=up|down] buttons do the
// same without a mouse. The new order is posted as ids=… (CSRF token in the header).
(function () {
  "use strict";

  var dragged = null;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function save(list) {
    var body = new URLSearchParams();
    list.querySelectorAll(":scope > .sortable-row").forEach(function (row) { body.append("ids", row.dataset.id); });
    fetch(list.dataset.sortable, {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() }
    }).then(function (response) {
      return response.json().then(function (data) {
        var message = data.message || (data.error && data.error.message) || "";
        if (window.distwebToast && message) window.distwebToast(message);
        if (!response.ok) window.location.reload();  // show the order the server kept
      });
    }).catch(function () { window.location.reload(); });
  }

  document.addEventListener("dragstart", function (event) {
    var row = event.target.closest && event.target.closest("[data-sortable] > .sortable-row");
    if (!row) return;
    dragged = row;
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.id);
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var over = event.target.closest && event.target.closest(".sortable-row");
    if (!over || over === dragged || over.parentNode !== dragged.parentNode) return;
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var vertical = over.tagName === "TR";
    var after = vertical ? event.clientY > box.top + box.height / 2 : event.clientX > box.left + box.width / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var list = dragged.parentNode;
    dragged.classList.remove("dragging");
    dragged = null;
    save(list);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move]");
    if (!button) return;
    var row = button.closest(".sortable-row");
    if (!row) return;
    var list = row.parentNode;
    if (button.dataset.move === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (button.dataset.move === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    } else {
      return;
    }
    button.focus();
    save(list);
  });
})();
