// The REST client: tokens live in this module's memory only (never localStorage), the access token
// is refreshed with the refresh token before it expires, and a 401 triggers one refresh and retry.
const BASE = '/api/v1';

let session = null; // { access, refresh, expiresAt }
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function notify() {
  for (const fn of listeners) fn(session);
}

export function accessToken() {
  return session?.access ?? null;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'http_error';
    this.details = body?.details ?? {};
  }
}

function adopt(tokens) {
  session = { access: tokens.access_token, refresh: tokens.refresh_token, expiresAt: Date.now() + tokens.expires_in * 1000 };
  clearTimeout(refreshTimer);
  // Refresh at 80 % of the lifetime (at least 5 s ahead), so requests never carry an expired token.
  const inMs = Math.max(1000, Math.min(tokens.expires_in * 800, tokens.expires_in * 1000 - 5000));
  scheduleRefresh(inMs);
  notify();
}

/**
 * A refused refresh token (401: spent, revoked, expired) ends the session; a server that is down
 * or restarting does not, so the refresh is tried again a few seconds later.
 */
function scheduleRefresh(inMs) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refresh().catch((err) => {
      if (err instanceof ApiError && err.status === 401) logoutLocal();
      else if (session) scheduleRefresh(5000);
    });
  }, inMs);
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: `HTTP ${res.status}: not a JSON response` };
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function login(username, password) {
  adopt(await send('POST', '/auth/login', { username, password }));
}

export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, { message: 'Not signed in' }));
  refreshing ??= send('POST', '/auth/refresh', { refresh_token: session.refresh })
    .then(adopt)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function logoutLocal() {
  clearTimeout(refreshTimer);
  session = null;
  notify();
}

export async function logout() {
  const current = session;
  logoutLocal();
  if (current) await send('POST', '/auth/logout', { refresh_token: current.refresh }, current.access).catch(() => undefined);
}

export async function api(method, path, body) {
  if (!session) throw new ApiError(401, { message: 'Not signed in' });
  try {
    return await send(method, path, body, session.access);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !session) throw err;
    try {
      await refresh();
    } catch (refreshErr) {
      if (refreshErr instanceof ApiError && refreshErr.status === 401) logoutLocal();
      throw err;
    }
    return send(method, path, body, session.access);
  }
}

export const get = (path) => api('GET', path);

export function qs(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Follows next_cursor through a list endpoint, up to `max` items. */
export async function listAll(path, key, params = {}, max = 5000) {
  const out = [];
  let cursor;
  do {
    const page = await get(path + qs({ ...params, limit: 200, cursor }));
    out.push(...page[key]);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

/** GET that resolves to null when the endpoint does not exist on this server (404 not_found). */
export async function optional(path) {
  try {
    return await get(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 403)) return null;
    throw err;
  }
}
