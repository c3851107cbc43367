// The API client. The session lives ONLY in this module's variables: the access token and the
// refresh token are never written to localStorage, sessionStorage or a cookie, and no other
// module (nor anything injected into the page) can read them. Reloading the page ends the
// dashboard session (log in again). State-changing requests carry the token in the
// Authorization header, which a cross-site page cannot set: no CSRF surface.

let access = null;
let refreshToken = null;
let me = null;
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, fields, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || {};
    this.retryAfter = retryAfter;
  }
}

export const user = () => me;
export const signedIn = () => access !== null;
export function onSignOut(fn) { listeners.add(fn); }

function signOut() {
  access = null;
  refreshToken = null;
  me = null;
  for (const fn of listeners) fn();
}

async function failure(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = body.error || {};
  const retry = res.headers.get('Retry-After');
  let message = e.message || `The server answered ${res.status}.`;
  if (res.status === 429 && retry) message += ` Try again in ${retry} s.`;
  return new ApiError(res.status, e.code || 'error', message, e.fields, retry);
}

export async function login(phone, password) {
  const res = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ phone, password, role: 'admin' }),
    credentials: 'omit',
  });
  if (!res.ok) throw await failure(res);
  const t = await res.json();
  access = t.accessToken;
  refreshToken = t.refreshToken;
  me = t.user;
  return me;
}

async function refresh() {
  if (!refreshToken) return false;
  refreshing ??= (async () => {
    try {
      const res = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
        credentials: 'omit',
      });
      if (!res.ok) return false;
      const t = await res.json();
      access = t.accessToken;
      refreshToken = t.refreshToken;
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function send(method, path, body) {
  const headers = { Authorization: `Bearer ${access}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
}

/** Calls the API; one refresh and retry on 401; signs out when that fails too. */
export async function raw(method, path, body) {
  if (!access) throw new ApiError(401, 'unauthenticated', 'Please log in.');
  let res = await send(method, path, body);
  if (res.status === 401 && (await refresh())) res = await send(method, path, body);
  if (res.status === 401) {
    signOut();
    throw new ApiError(401, 'unauthenticated', 'Your session ended; please log in again.');
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function api(method, path, body) {
  const res = await raw(method, path, body);
  return res.status === 204 ? null : res.json();
}
export const get = (path) => api('GET', path);

/** Downloads a protected file (backup, CSV) through a blob URL. Returns its size in bytes. */
export async function download(path, fallbackName) {
  const res = await raw('GET', path);
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  const name = m ? m[1] : fallbackName;
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name, size: blob.size };
}

export async function logout() {
  try {
    if (access) await send('POST', '/api/v1/auth/logout', {});
  } catch { /* signing out locally anyway */ }
  signOut();
}
