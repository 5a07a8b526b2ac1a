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
