// The console's only way to the server: the public REST API, with the
// bearer token this browser tab signed in with.
//
// Contract: request() resolves with {status, data, etag} for 2xx and 304
// answers and rejects with an ApiError for everything else, including
// network failures (status 0, code "network"). A 401 also dispatches the
// window event "tmf:unauthenticated" (unless opts.quiet401), so the app can
// return to the sign-in page whatever page made the call.

const TOKEN_KEY = 'tmf.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** ApiError is a refused request: an RFC 9457 problem, or a transport failure. */
export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.detail || b.title || `HTTP ${status}`);
    this.status = status;
    this.code = b.code || (status === 0 ? 'network' : `http_${status}`);
    this.title = b.title || '';
    this.detail = b.detail || '';
    // problems: configuration problems of a 422 config_invalid
    // [{identity, point?, kind, message}]
    this.problems = Array.isArray(b.problems) ? b.problems : [];
    this.body = b;
  }
}

/** describe gives one line a person can act on. */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (err.status === 0) return 'The server could not be reached. Check the connection and try again.';
  const head = err.title && err.detail ? `${err.title}: ${err.detail}` : (err.detail || err.title || err.message);
  return `${head} (${err.code}, HTTP ${err.status})`;
}

/**
 * request sends one API call.
 * opts.body: a value sent as JSON, or a Blob/File/ArrayBuffer sent raw
 *   (Content-Type from opts.contentType, default application/octet-stream).
 * opts.headers: extra headers (e.g. {'If-Match': '"7"'}).
 * opts.token: use this token instead of the stored one (sign-in).
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json, application/problem+json', ...(opts.headers || {}) };
  const t = opts.token !== undefined ? opts.token : token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body;
  if (opts.body !== undefined) {
    const rawBody = opts.body instanceof Blob || opts.body instanceof ArrayBuffer;
    if (rawBody) {
      body = opts.body;
      headers['Content-Type'] = opts.contentType || 'application/octet-stream';
    } else {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, { detail: String(e) });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = res.ok ? text : { detail: text.trim().slice(0, 500) };
    }
  }
  if (!res.ok && res.status !== 304) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.quiet401) window.dispatchEvent(new CustomEvent('tmf:unauthenticated'));
    throw err;
  }
  return { status: res.status, data, etag: res.headers.get('ETag') || '' };
}

/** get returns the decoded body of a GET. */
export async function get(path, opts) {
  return (await request('GET', path, opts)).data;
}

/** query builds "?a=1&b=2" from the non-empty entries of obj. */
export function query(obj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** seg encodes one path segment. */
export const seg = encodeURIComponent;
