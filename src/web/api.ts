/** The browser's client of the lockwarden API: same-origin, session cookie, CSRF header on changes. */

export interface FieldError {
  path: string;
  message: string;
}

/** An API error with the server's stable code and per-field messages. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

let csrfToken = '';
/** Remembers the CSRF token the server handed out with the session. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Asks the person to confirm it's them; resolves true once the server accepted it, false if they gave up. */
export type StepUpHandler = (reason: string) => Promise<boolean>;
let stepUpHandler: StepUpHandler | null = null;
/** Registers the "Confirm it's you" dialog that answers `auth.step_up_required` (src/web/StepUp.tsx). */
export function setStepUpHandler(handler: StepUpHandler | null): void {
  stepUpHandler = handler;
}

/** Throws the ApiError a non-2xx answer carries. */
export async function errorOf(res: Response): Promise<ApiError> {
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; fields?: FieldError[] } };
  return new ApiError(res.status, json.error?.code ?? 'unknown', json.error?.message ?? `HTTP ${res.status}`, json.error?.fields ?? []);
}

/**
 * `fetch` for the API with the CSRF header; an answer of `auth.step_up_required` opens the "Confirm
 * it's you" dialog and, once confirmed, sends the same request again (once).
 */
export async function apiFetch(method: string, url: string, init: { headers?: Record<string, string>; body?: BodyInit | null; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  const send = () => fetch(url, { method, headers, credentials: 'same-origin', body: init.body ?? null, ...(init.signal ? { signal: init.signal } : {}) });
  const res = await send();
  if (res.status !== 403 || !stepUpHandler) return res;
  const err = await errorOf(res.clone());
  if (err.code !== 'auth.step_up_required') return res;
  if (!(await stepUpHandler(err.message))) return res;
  return send();
}

/** Calls the API; throws ApiError for any non-2xx answer. */
export async function api<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await apiFetch(method, url, { headers, body: body === undefined ? null : JSON.stringify(body), ...(signal ? { signal } : {}) });
  if (res.status === 204) return undefined as T;
  if (!res.ok) throw await errorOf(res);
  return (await res.json().catch(() => ({}))) as T;
}

/** The server's dates arrive as ISO strings. */
export type Wire<T> = T extends Date ? string : T extends (infer U)[] ? Wire<U>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

/** Turns field errors into a map for form inputs, keyed by dotted path. */
export function fieldErrors(e: unknown): Record<string, string> {
  if (!(e instanceof ApiError)) return {};
  return Object.fromEntries(e.fields.map((f) => [f.path, f.message]));
}

/**
 * What a form shows in its Alert: the message of an error without field errors, or the field errors
 * no input of the form shows (`known` lists the dotted paths that have an input). Null when nothing.
 */
export function formAlert(e: unknown, known: readonly string[]): string | null {
  if (!e) return null;
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : 'something went wrong';
  if (e.fields.length === 0) return e.message;
  const rest = e.fields.filter((f) => !known.includes(f.path));
  return rest.length ? rest.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join('; ') : null;
}

export function formatDate(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '-';
}

/** Sends a file as the raw request body (the attachments API); extra headers and a query string allowed. */
export async function uploadFile<T>(url: string, file: Blob & { name?: string }, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': file.type || 'application/octet-stream', 'x-csrf-token': csrfToken, ...(file.name ? { 'x-filename': encodeURIComponent(file.name) } : {}), ...headers },
    body: file,
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; fields?: FieldError[] } };
  if (!res.ok) throw new ApiError(res.status, json.error?.code ?? 'unknown', json.error?.message ?? `HTTP ${res.status}`, json.error?.fields ?? []);
  return json as T;
}
