/* Service worker of the driver app (scope /driver/). Rendered by dispatch.driver_app.views.service_worker so
   that the cached app-shell URLs are the static storage's real (hashed) names.
   - app shell (CSS, JS, icons, manifest): cache first; a new deploy changes the names and the cache name.
   - the page /driver/: network first, the cached copy when offline (its embedded route may be old:
     the page then shows what it last knew and its offline queue keeps working).
   - the API is never cached here: the page handles offline actions itself. */
const CACHE = "driver-{{ version|escapejs }}";
const SHELL = [{% for url in shell %}"{{ url|escapejs }}", {% endfor %}];
const PAGE = "{% url 'driver:app' %}";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("driver-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(PAGE, copy));
          }
          return response;
        })
        .catch(() => caches.match(PAGE).then((cached) => cached || Response.error()))
    );
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((cached) => cached || fetch(request)));
  }
});
