// distweb service worker {{ version }}
// Precaches static files and the offline page. Never caches per-user HTML; htmx requests
// always go to the network.
const CACHE = "distweb-static-{{ version }}";
const OFFLINE_URL = "{{ url_for('pwa.offline') }}";
const PRECACHE = {{ precache|tojson }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("distweb-static-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // htmx requests: straight to the network, never from or into a cache.
  if (request.headers.get("HX-Request")) return;

  if (request.mode === "navigate") {
    // Pages are per-user: network only; the offline page when the network is gone.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(
      caches.match(request, { ignoreSearch: false }).then((hit) => hit || fetch(request))
    );
  }
});

// Web Push: show what the server sent ({title, body, url, tag}); a tap opens that page.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data && event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "distweb", {
    body: data.body || "",
    tag: data.tag,
    data: { url: data.url || "/" },
    icon: "{{ url_for('pwa.icon', purpose='any', size=192) }}",
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
