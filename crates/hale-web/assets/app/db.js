// @ts-check
/**
 * The device's own store (IndexedDB): the last `home` answer, so the app opens offline, and
 * the queue of submissions waiting to be sent. Every write is a transaction that has
 * completed before the promise resolves, so a closed tab loses nothing acknowledged.
 */

const NAME = 'hale';
const VERSION = 1;
/** Key-value records: the last home answer per organisation. */
export const STATE = 'state';
/** Submissions, keyed by their idempotency key. */
export const QUEUE = 'queue';

/** @type {Promise<IDBDatabase> | null} */
let opened = null;

/** @returns {Promise<IDBDatabase>} */
function database() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STATE)) db.createObjectStore(STATE);
      if (!db.objectStoreNames.contains(QUEUE)) {
        db.createObjectStore(QUEUE, { keyPath: 'idempotency_key' });
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

/**
 * Runs `work` in one transaction and resolves with its result once the transaction commits.
 * @template T
 * @param {string} store
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T> | void} work
 * @returns {Promise<T | undefined>}
 */
async function transact(store, mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(store, mode, { durability: 'strict' });
    const request = work(transaction.objectStore(store));
    transaction.oncomplete = () => resolve(request ? request.result : undefined);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

/**
 * @param {string} store
 * @param {IDBValidKey} key
 * @returns {Promise<any>}
 */
export function get(store, key) {
  return transact(store, 'readonly', (records) => records.get(key));
}

/**
 * @param {string} store
 * @returns {Promise<any[]>}
 */
export async function all(store) {
  return (await transact(store, 'readonly', (records) => records.getAll())) ?? [];
}

/**
 * @param {string} store
 * @param {unknown} value
 * @param {IDBValidKey} [key] for stores without a key path
 */
export async function put(store, value, key) {
  await transact(store, 'readwrite', (records) => records.put(value, key));
}

/**
 * @param {string} store
 * @param {IDBValidKey} key
 */
export async function remove(store, key) {
  await transact(store, 'readwrite', (records) => records.delete(key));
}

/** Everything this device holds, for signing out. */
export async function clear() {
  await transact(STATE, 'readwrite', (records) => records.clear());
  await transact(QUEUE, 'readwrite', (records) => records.clear());
}
