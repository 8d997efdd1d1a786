// @ts-check
/**
 * The service worker: keeps every file of the app (shell, screens, engine, catalogues, icons)
 * so that it opens and fills in forms with no network. The build writes in the file list and
 * a version that changes with any file, so a new build installs a fresh copy and drops the
 * old one. API calls are never cached: they carry health data and must reach the server.
 */

const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** @type {string[]} */
const PRECACHE = ["__HALE_PRECACHE__"];
const VERSION = '__HALE_VERSION__';
const CACHE = `hale-${VERSION}`;

worker.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // `reload`: fetched from the server, not from the HTTP cache of an older build.
    await cache.addAll(PRECACHE.map((path) => new Request(path, { cache: 'reload' })));
    await worker.skipWaiting();
  })());
});

worker.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('hale-') && name !== CACHE) await caches.delete(name);
    }
    await worker.clients.claim();
  })());
});

worker.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== worker.location.origin || url.pathname.startsWith('/api/')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Every page of the app is the same shell; the app draws the route itself.
    const key = request.mode === 'navigate' ? '/index.html' : url.pathname;
    const cached = await cache.match(key);
    return cached ?? fetch(request);
  })());
});
