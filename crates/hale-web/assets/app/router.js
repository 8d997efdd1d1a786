// @ts-check
/**
 * Client-side routes over the History API. Same-origin links outside the API are followed
 * without reloading; each screen change moves focus to the new heading and says its name.
 */

import { announce } from './dom.js';

/**
 * @typedef {(params: string[]) => Promise<void> | void} Screen
 * @typedef {[RegExp, Screen]} Route
 */

/** @type {Route[]} */
let routes = [];
let rendering = Promise.resolve();

/**
 * @param {Route[]} table
 */
export function start(table) {
  routes = table;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target instanceof Element ? event.target.closest('a[href]') : null;
    if (!(link instanceof HTMLAnchorElement) || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.hash) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  return render();
}

/**
 * Shows the screen at `path`; resolves once it is drawn (never await it from a screen).
 * @param {string} path
 * @param {{replace?: boolean}} [options]
 */
export function navigate(path, options = {}) {
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  return render();
}

/**
 * Draws the current path's screen after any screen still being drawn. A screen that moves on
 * to another path must not wait for that one: it would wait for itself.
 */
function render() {
  rendering = rendering.then(async () => {
    const path = location.pathname;
    for (const [pattern, screen] of routes) {
      const match = pattern.exec(path);
      if (match) {
        await screen(match.slice(1).map(decodeURIComponent));
        settle();
        return;
      }
    }
    await routes[0]?.[1]([]);
    settle();
  }).catch((error) => {
    console.error(error);
  });
  return rendering;
}

/** Focus and a name for the screen just drawn, as a page load would give. */
function settle() {
  const heading = document.querySelector('main h1');
  if (heading instanceof HTMLElement) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} – Hale`;
    announce(heading.textContent ?? '');
  }
  window.scrollTo(0, 0);
}
