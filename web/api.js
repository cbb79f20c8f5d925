// The REST API as the UI calls it: the token from sessionStorage as a bearer header (no
// cookies, so no CSRF surface), JSON in and out, every refusal thrown as an ApiError that holds
// the API's own sentence.
const KEY = 'vmspki.token';

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

export function token() {
	return sessionStorage.getItem(KEY);
}

export function setToken(t) {
	if (t)
		sessionStorage.setItem(KEY, t);
	else
		sessionStorage.removeItem(KEY);
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
	onUnauthorized = fn;
}

// api('GET', '/api/v1/devices', {query: {limit: 50}, body: {...}, csv: 'text', raw: true})
export async function api(method, path, opts = {}) {
	const headers = { Accept: 'application/json' };
	const t = token();
	if (t)
		headers.Authorization = `Bearer ${t}`;
	let body;
	if (opts.csv !== undefined) {
		headers['Content-Type'] = 'text/csv';
		body = opts.csv;
	} else if (opts.body !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(opts.body);
	}
	let url = path;
	if (opts.query) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(opts.query))
			if (v !== undefined && v !== null && v !== '')
				q.set(k, String(v));
		const s = q.toString();
		if (s)
			url += `?${s}`;
	}
	let resp;
	try {
		resp = await fetch(url, { method, headers, body, cache: 'no-store', credentials: 'omit' });
	} catch (err) {
		throw new ApiError(0, 'network', `the server could not be reached (${err.message})`);
	}
	if (opts.raw && resp.ok)
		return resp.blob();
	const text = await resp.text();
	let data = null;
	if (text) {
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
	}
	if (!resp.ok) {
		const e = data && data.error ? data.error : {};
		const err = new ApiError(resp.status, e.code || `http_${resp.status}`,
		    e.message || `the server answered ${resp.status}`);
		if (resp.status === 401 && !opts.noSignout)
			onUnauthorized(err);
		throw err;
	}
	return data;
}
