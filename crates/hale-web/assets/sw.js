// @ts-check
/**
 * The service worker: keeps every file of the app (shell, screens, engine, catalogues, icons)
 * so that it opens and fills in forms with no network. The build writes in the file list and
 * a version that changes with any file, so a new build installs a fresh copy and drops the
 * old one. API calls are never cached: they carry health data and must reach the server. The
 * one exception is a version's media files (the images, sounds and videos its labels show),
 * which are the form's own content, the same for every patient, and never change once stored
 * (a changed file makes a new version): each is kept on first use, so a form opened offline
 * still shows them.
 */

const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** @type {string[]} */
const PRECACHE = ["__HALE_PRECACHE__"];
const VERSION = '__HALE_VERSION__';
const CACHE = `hale-${VERSION}`;
/** Media files outlive a new build of the app: their addresses name the version they belong to. */
const MEDIA_CACHE = 'media-1';
/** `/api/v1/tenants/{tenant}/apps/{app}/versions/{n}/files/{file}` */
const MEDIA_FILE = /^\/api\/v1\/tenants\/[^/]+\/apps\/[^/]+\/versions\/\d+\/files\/[^/]+$/;

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
  if (request.method !== 'GET' || url.origin !== worker.location.origin) return;
  if (MEDIA_FILE.test(url.pathname)) {
    event.respondWith(mediaFile(request));
    return;
  }
  if (url.pathname.startsWith('/api/')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Every page of the app is the same shell; the app draws the route itself.
    const key = request.mode === 'navigate' ? '/index.html' : url.pathname;
    const cached = await cache.match(key);
    return cached ?? fetch(request);
  })());
});

/**
 * A media file, from the media cache, else from the server (kept when it is there to keep:
 * never an error, which a later visit must ask again).
 * @param {Request} request
 * @returns {Promise<Response>}
 */
async function mediaFile(request) {
  const cache = await caches.open(MEDIA_CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}
