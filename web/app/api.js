// The one way the app talks to the server: the public /v1 API, same origin, bearer tokens.
// Every error is the API's problem+json, surfaced as an ApiError with its stable `code`;
// a request that never reached the server is an Offline error (the command queue's cue).
import { learnt } from './network.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || 'unknown';
    this.errors = problem.errors || {};
    this.problem = problem;
  }
}

export class Offline extends Error {
  constructor() {
    super('offline');
    this.code = 'offline';
  }
}

let tokens = null; // {access_token, refresh_token}: in memory only, never stored
let onSessionEnded = () => {};

// Requests of the session in flight: ended with it (their answers would belong to nobody on screen).
let session = new AbortController();

export function useTokens(pair) {
  if (!pair) {
    session.abort();
    session = new AbortController();
  }
  tokens = pair ? { access_token: pair.access_token, refresh_token: pair.refresh_token } : null;
}

export function hasTokens() {
  return tokens !== null;
}

export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

export function newKey() {
  return crypto.randomUUID();
}

async function send(method, path, { body, ifMatch, idempotencyKey, params, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && tokens) headers.Authorization = `Bearer ${tokens.access_token}`;
  if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = `"${ifMatch}"`;
  if (method === 'POST') headers['Idempotency-Key'] = idempotencyKey || newKey();
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') query.set(name, String(value));
    }
    if ([...query].length) url += `?${query}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', signal: auth ? session.signal : undefined,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw new ApiError(401, { code: 'unauthenticated' });
    learnt(false);
    throw new Offline();
  }
  learnt(true);
  return response;
}

async function read(response) {
  const type = response.headers.get('Content-Type') || '';
  const data = response.status === 204 ? null
    : type.includes('json') ? await response.json() : { detail: await response.text() };
  if (!response.ok) throw new ApiError(response.status, data || {});
  const etag = response.headers.get('ETag');
  return { status: response.status, body: data, version: etag ? Number(etag.replace(/\D/g, '')) : null };
}

let refreshing = null;

async function refresh() {
  if (!tokens?.refresh_token) return false;
  refreshing ||= (async () => {
    const response = await send('POST', '/v1/auth/refresh',
      { body: { refresh_token: tokens.refresh_token }, auth: false });
    if (!response.ok) return false;
    useTokens(await response.json());
    return true;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

// `options`: body, ifMatch (a case version), idempotencyKey (POST; one is made when none), params.
export async function api(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response.status === 401 && options.auth !== false && await refresh()) {
    response = await send(method, path, options);
  }
  if (response.status === 401 && options.auth !== false) {
    useTokens(null);
    onSessionEnded();
  }
  return read(response);
}

// Every page of a list (each answer's next_cursor given back as `cursor`).
export async function every(path, params = {}, most = 2000) {
  const items = [];
  let cursor = null;
  do {
    const page = (await api('GET', path, { params: { ...params, limit: 200, cursor } })).body;
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}
