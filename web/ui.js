// Small DOM helpers. Every value from the API goes in as text (textContent, attributes), never
// as HTML: a device called "<img src=x onerror=...>" shows as those characters.
export function el(tag, attrs = {}, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k === 'class')
			e.className = v;
		else if (k === 'text')
			e.textContent = String(v);
		else if (k.startsWith('on') && typeof v === 'function')
			e.addEventListener(k.slice(2), v);
		else if (v === true)
			e.setAttribute(k, '');
		else
			e.setAttribute(k, String(v));
	}
	for (const k of kids.flat(Infinity)) {
		if (k === undefined || k === null || k === false)
			continue;
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return e;
}

export function clear(node) {
	while (node.firstChild)
		node.firstChild.remove();
	return node;
}

// "2027-03-01T10:00:00Z" -> "2027-03-01 10:00 UTC"; null -> "".
export function when(iso) {
	if (!iso)
		return '';
	return String(iso).replace('T', ' ').replace(/:\d\dZ$/, ' UTC');
}

export function daysLeft(iso) {
	if (!iso)
		return null;
	return Math.floor((Date.parse(iso) - Date.now()) / 86400000);
}

// The class a status word gets.
export function stClass(s) {
	if (!s)
		return '';
	if (/^(OK|Enabled|Finished|valid|cleared)$/.test(s))
		return 'st-ok';
	if (/about to expire|Running|Queued|Pending|warning|Disabled/i.test(s))
		return 'st-warn';
	if (/expired|Unreachable|Wrong|Failed|critical|Untrusted|revoked|Unsupported|Cancelled/i.test(s))
		return 'st-bad';
	return '';
}

export function status(s) {
	return el('span', { class: stClass(s), text: s || 'unknown' });
}

// An area where an action's error is shown, next to what caused it.
export function errorBox() {
	return el('p', { class: 'error', role: 'alert' });
}

export function showError(box, err) {
	box.textContent = err ? String(err.message || err) : '';
}

export function download(blob, name) {
	const a = el('a', { href: URL.createObjectURL(blob), download: name });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// A table: cols [{key, label, cell(row) -> Node|string, sort: 'name', class}].
export function table(caption, cols, rows, opts = {}) {
	const head = el('tr', {}, cols.map((c) => {
		const th = el('th', { scope: 'col', class: c.class });
		if (c.sort && opts.onSort) {
			const active = opts.sort === c.sort;
			th.setAttribute('aria-sort', active ? (opts.desc ? 'descending' : 'ascending') : 'none');
			th.append(el('button', { type: 'button', class: 'sort',
			    onclick: () => opts.onSort(c.sort) },
			    c.label, active ? (opts.desc ? ' ▼' : ' ▲') : ''));
		} else if (c.head) {
			th.append(c.head);
		} else {
			th.textContent = c.label;
		}
		return th;
	}));
	const body = el('tbody', {}, rows.map((r) => el('tr', { 'data-id': r.id },
	    cols.map((c) => {
		const v = c.cell ? c.cell(r) : r[c.key];
		return el('td', { class: c.class }, v === null || v === undefined ? '' : v);
	}))));
	if (rows.length === 0)
		body.append(el('tr', {}, el('td', { colspan: cols.length, class: 'muted',
		    text: opts.empty || 'Nothing here.' })));
	return el('div', { class: 'tablewrap' },
	    el('table', {}, el('caption', { text: caption }), el('thead', {}, head), body));
}

// Weekly counts as an SVG bar chart (drawn here: no library).
export function weekChart(weeks, from, label) {
	const NS = 'http://www.w3.org/2000/svg';
	const W = 760, H = 200, L = 34, B = 24, T = 10;
	const max = Math.max(1, ...weeks);
	const bw = (W - L - 4) / weeks.length;
	const svg = document.createElementNS(NS, 'svg');
	svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
	svg.setAttribute('class', 'chart');
	svg.setAttribute('role', 'img');
	svg.setAttribute('aria-label', label);
	const mk = (tag, a, text) => {
		const n = document.createElementNS(NS, tag);
		for (const [k, v] of Object.entries(a))
			n.setAttribute(k, String(v));
		if (text !== undefined)
			n.textContent = text;
		svg.append(n);
		return n;
	};
	mk('line', { x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis' });
	mk('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' });
	mk('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, String(max));
	mk('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0');
	const start = Date.parse(from);
	weeks.forEach((n, i) => {
		const h = ((H - B - T) * n) / max;
		const r = mk('rect', { x: L + 2 + i * bw, y: H - B - h, width: Math.max(1, bw - 2),
		    height: h, class: i < 4 ? 'bar soon' : 'bar' });
		const d = new Date(start + i * 7 * 86400000).toISOString().slice(0, 10);
		const t = document.createElementNS(NS, 'title');
		t.textContent = `week of ${d}: ${n} certificate${n === 1 ? '' : 's'}`;
		r.append(t);
		if (i % 8 === 0)
			mk('text', { x: L + 2 + i * bw, y: H - 8 }, d.slice(0, 7));
	});
	return svg;
}
