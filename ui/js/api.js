// The daemon's HTTP API as the pages use it: the session (login, logout, its CSRF token) and JSON
// requests that carry the CSRF token on every state change. The session cookie is HttpOnly: the
// page never sees it, only the CSRF token the server hands out with the session.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, body, route, retryAfterSeconds = null) {
    super(body && typeof body.error === 'string' ? body.error : `${route}: HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function currentCsrfToken() {
  return csrfToken;
}

async function readBody(res) {
  const type = res.headers.get('content-type') || '';
  if (res.status === 204) return null;
  if (type.includes('application/json')) return res.json();
  return { error: (await res.text()).slice(0, 300) };
}

/** A JSON request; throws ApiError with the server's message for a non-2xx answer. */
export async function api(route, { method = 'GET', body, allow = [] } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = await readBody(res);
  if (!res.ok && !allow.includes(res.status)) {
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new ApiError(res.status, data, route, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
  }
  return { status: res.status, data };
}

/** The current session, or null when not logged in. */
export async function getSession() {
  const { status, data } = await api('/api/session', { allow: [401] });
  if (status === 401) {
    csrfToken = null;
    return null;
  }
  csrfToken = data.csrfToken;
  return data;
}

/**
 * Logs in; resolves to the session or throws ApiError (401 wrong credentials, 429 too many tries).
 * `name`: the person's login; empty for the role's built-in account.
 */
export async function login(role, secret, name = '') {
  const body = role === 'operator' ? { role, pin: secret } : { role, password: secret };
  if (name) body.name = name;
  const { data } = await api('/api/session', { method: 'POST', body });
  csrfToken = data.csrfToken;
  return data;
}

export async function logout() {
  try {
    await api('/api/session', { method: 'DELETE', allow: [401, 403] });
  } finally {
    csrfToken = null;
  }
}
