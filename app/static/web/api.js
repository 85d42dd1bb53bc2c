// The JSON API on this origin, and the session: tokens in this module only.
//
// The access and refresh tokens live in a variable of this module and nowhere
// else: not in localStorage, sessionStorage, a cookie or a URL. A script of
// another origin cannot read them (the page loads none), and reloading the
// page ends the session in this tab (the user signs in again).

let session = null; // {access, refresh, user}
const listeners = new Set();

/** A refusal from the API: the problem document, or one made up for a network failure. */
export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "The request failed.");
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
  }

  /** Whether the same request may be sent again with the same Idempotency-Key. */
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.code === "idempotency_in_progress";
  }
}

/** Tell ``listener`` when someone signs in or out (it gets the user or null). */
export function onSessionChange(listener) {
  listeners.add(listener);
}

export function currentUser() {
  return session ? session.user : null;
}

function announce() {
  for (const listener of listeners) listener(currentUser());
}

function url(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") params.append(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      // fall through to a made-up document
    }
  }
  return {
    status: response.status,
    title: response.statusText || "Error",
    code: "unexpected_answer",
    detail: `The server answered ${response.status} without an explanation.`,
  };
}

async function send(method, path, options, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.key) headers["Idempotency-Key"] = options.key;
  const init = {
    method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  try {
    return await fetch(url(path, options.query), init);
  } catch {
    throw new ApiProblem({
      status: 0,
      title: "No answer",
      code: "network_error",
      detail:
        "The bank could not be reached, so nothing is confirmed. Try again: " +
        "a money movement sent again from this form moves money at most once.",
    });
  }
}

async function refreshAccess() {
  if (!session || !session.refresh) return false;
  const response = await send("POST", "/auth/refresh", {}, session.refresh);
  if (!response.ok) return false;
  const body = await response.json();
  session.access = body.access_token;
  return true;
}

/**
 * Call the API. Options: query (object), body (JSON), key (Idempotency-Key),
 * raw (return the Response, for files and images), anonymous (no token).
 * Answers the parsed JSON (null for 204); throws ApiProblem on any refusal.
 */
export async function api(method, path, options = {}) {
  const token = options.anonymous || !session ? null : session.access;
  let response = await send(method, path, options, token);
  if (response.status === 401 && token) {
    const problem = await problemOf(response);
    if (problem.code === "token_expired" && (await refreshAccess())) {
      response = await send(method, path, options, session.access);
    } else {
      endSession(problem.detail);
      throw new ApiProblem(problem);
    }
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401 && token) endSession(problem.detail);
    throw new ApiProblem(problem);
  }
  if (options.raw) return response;
  if (response.status === 204) return null;
  const body = await response.json();
  if (body && typeof body === "object" && response.status === 202) body.accepted = true;
  return body;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body, key) => api("POST", path, { body: body ?? {}, key });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);

/** Fetch every page of a list (small lists only: accounts, payees, goals). */
export async function all(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...query, limit: 100, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 1000);
  return items;
}

/** Sign in: tokens into this module, then who the user is. */
export async function signIn(username, password) {
  const tokens = await api("POST", "/auth/login", {
    body: { username, password },
    anonymous: true,
  });
  session = { access: tokens.access_token, refresh: tokens.refresh_token, user: null };
  try {
    session.user = await get("/auth/me");
  } catch (error) {
    session = null;
    throw error;
  }
  announce();
  return session.user;
}

/** Sign out: the server revokes the session; the tokens are dropped either way. */
export async function signOut() {
  if (!session) return;
  try {
    await api("POST", "/auth/logout");
  } catch {
    // The tokens are forgotten below whatever the server said.
  }
  endSession(null);
}

let endedBecause = null;

/** Why the last session ended, if the server ended it (shown on the sign-in page). */
export function takeEndReason() {
  const reason = endedBecause;
  endedBecause = null;
  return reason;
}

function endSession(reason) {
  if (!session) return;
  session = null;
  endedBecause = reason;
  announce();
}

/** Replace the signed-in user's profile after a change. */
export function updateUser(user) {
  if (session) {
    session.user = user;
    announce();
  }
}

/** Download a file the API serves (a statement) under the session's token. */
export async function download(path, query, filename) {
  const response = await api("GET", path, { query, raw: true });
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  return blob.size;
}

/** An image the API serves (the chart) as an object URL for an <img>. */
export async function imageUrl(path, query) {
  const response = await api("GET", path, { query, raw: true });
  return URL.createObjectURL(await response.blob());
}
