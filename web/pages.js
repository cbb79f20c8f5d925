// The pages of the web UI. Each show(root, args, ctx) draws into root from the REST API;
// ctx.alive turns false when the user leaves (polling stops), ctx.timer is cleared then.
import { api } from './api.js';
import { el, clear, when, daysLeft, status, table, errorBox, showError, download,
    weekChart } from './ui.js';

const HTTPS_STATES = ['Enabled', 'Disabled', 'Disabled (Missing server certificate)',
    'Unsupported firmware', 'unknown'];
const STATUSES = ['OK', 'Unreachable', 'Wrong credentials', 'Certificate about to expire',
    'Certificate has expired', 'unknown'];

function heading(root, text, ...extra) {
	root.append(el('h1', { text }), ...extra);
}

function countsList(id, obj) {
	const keys = Object.keys(obj || {}).sort();
	if (keys.length === 0)
		return el('p', { class: 'muted', id, text: 'none' });
	return el('dl', { class: 'kv', id }, keys.map((k) => [el('dt', {}, status(k)),
	    el('dd', { class: 'num', 'data-key': k, text: obj[k] })]));
}

// ---------------------------------------------------------------- overview
async function overview(root, args, ctx) {
	heading(root, 'Overview');
	const [ca, sum, alarms, tasks] = await Promise.all([
		api('GET', '/api/v1/ca').catch((e) => ({ error: e })),
		api('GET', '/api/v1/devices/summary'),
		api('GET', '/api/v1/alarms'),
		api('GET', '/api/v1/tasks'),
	]);
	if (!ctx.alive)
		return;
	const left = ca.not_after ? daysLeft(ca.not_after) : null;
	const running = tasks.tasks.filter((t) => t.state === 'Queued' || t.state === 'Running');
	const open = alarms.alarms.filter((a) => !a.acknowledged);
	root.append(el('div', { class: 'cards' },
	    el('section', { class: 'card', 'aria-labelledby': 'ov-ca' },
		el('h2', { id: 'ov-ca', text: 'Certificate authority' }),
		ca.error ? el('p', { class: 'error', text: ca.error.message }) :
		el('dl', { class: 'kv', id: 'ca-facts' },
		    el('dt', { text: 'Subject' }), el('dd', { id: 'ca-subject', text: ca.subject }),
		    el('dt', { text: 'Key' }), el('dd', { text: ca.key }),
		    el('dt', { text: 'Expires' }), el('dd', {},
			when(ca.not_after), ' ', el('span', { class: left < 90 ? 'st-warn' : 'muted',
			    text: `(${left} days left)` })))),
	    el('section', { class: 'card', 'aria-labelledby': 'ov-dev' },
		el('h2', { id: 'ov-dev', text: 'Devices' }),
		el('p', { class: 'big', id: 'device-total', text: sum.total }),
		el('h3', { text: 'By HTTPS state' }), countsList('by-https', sum.by_https),
		el('h3', { text: 'By status' }), countsList('by-status', sum.by_status)),
	    el('section', { class: 'card', 'aria-labelledby': 'ov-al' },
		el('h2', { id: 'ov-al', text: 'Open alarms' }),
		el('p', { class: 'big', id: 'alarm-count', text: open.length }),
		el('a', { href: '#/alarms', text: 'See the alarms' })),
	    el('section', { class: 'card', 'aria-labelledby': 'ov-ta' },
		el('h2', { id: 'ov-ta', text: 'Running tasks' }),
		el('p', { class: 'big', id: 'task-count', text: running.length }),
		el('ul', {}, running.slice(0, 5).map((t) => el('li', {}, el('a', {
		    href: `#/tasks/${t.id}`, text: `Task ${t.id}: ${t.kind}, ${t.devices.finished}` +
		    ` of ${t.devices.total} done` })))))));
	const ex = sum.expiry;
	root.append(el('h2', { text: 'Device certificates ending, by week (next 12 months)' }),
	    el('p', { class: 'muted', text: `${ex.expired} already ended; ` +
	    `${ex.weeks.reduce((a, b) => a + b, 0)} in the next ${ex.weeks.length} weeks; ` +
	    `${ex.later} later. The first four weeks are in red.` }),
	    weekChart(ex.weeks, ex.from, 'Device certificates ending each week over the next 12 months'));
}

// ---------------------------------------------------------------- devices
const PAGE = 50;

function devices(root, args, ctx) {
	const st = { offset: 0, sort: 'id', desc: false, q: '', status: '', https: '',
	    selected: new Set(), rows: [] };
	heading(root, 'Devices');
	const listErr = errorBox();
	const actErr = errorBox();
	const note = el('p', { class: 'note', role: 'status' });
	const qIn = el('input', { id: 'dev-q', type: 'search', placeholder: 'address, name, MAC…' });
	const stSel = el('select', { id: 'dev-status' }, el('option', { value: '', text: 'any' }),
	    STATUSES.map((s) => el('option', { value: s, text: s })));
	const hSel = el('select', { id: 'dev-https' }, el('option', { value: '', text: 'any' }),
	    HTTPS_STATES.map((s) => el('option', { value: s, text: s })));
	const selInfo = el('span', { class: 'muted', id: 'dev-selected', 'aria-live': 'polite' });
	const bEnable = el('button', { type: 'button', class: 'primary', id: 'dev-https-btn',
	    text: 'Enable/Update HTTPS…', disabled: true });
	const bRemove = el('button', { type: 'button', class: 'danger', id: 'dev-remove',
	    text: 'Remove', disabled: true });
	const bAdd = el('button', { type: 'button', id: 'dev-add-btn', text: 'Add a device…' });
	const bImport = el('button', { type: 'button', id: 'dev-import-btn', text: 'Import CSV…' });
	const panel = el('div', { id: 'dev-panel' });
	const tableBox = el('div', { id: 'dev-table' });
	const pager = el('div', { class: 'pager' });
	root.append(
	    el('div', { class: 'toolbar', role: 'search' },
		el('label', { for: 'dev-q' }, 'Filter', qIn),
		el('label', { for: 'dev-status' }, 'Status', stSel),
		el('label', { for: 'dev-https' }, 'HTTPS', hSel)),
	    el('div', { class: 'toolbar' }, bEnable, bRemove, bAdd, bImport, selInfo),
	    actErr, note, panel, listErr, tableBox, pager);

	function selUpdate() {
		const n = st.selected.size;
		selInfo.textContent = n ? `${n} selected` : '';
		bEnable.disabled = n === 0;
		bRemove.disabled = n === 0;
	}

	async function load() {
		let r;
		try {
			r = await api('GET', '/api/v1/devices', { query: { limit: PAGE, offset: st.offset,
			    sort: st.sort, order: st.desc ? 'desc' : 'asc', q: st.q,
			    status: st.status, https: st.https } });
		} catch (err) {
			if (ctx.alive)
				showError(listErr, err);
			return;
		}
		if (!ctx.alive)
			return;
		showError(listErr, null);
		st.rows = r.devices;
		draw(r.total);
	}

	function draw(total) {
		const all = el('input', { type: 'checkbox', 'aria-label': 'Select every device on this page',
		    checked: st.rows.length > 0 && st.rows.every((d) => st.selected.has(d.id)) });
		all.addEventListener('change', () => {
			for (const d of st.rows)
				all.checked ? st.selected.add(d.id) : st.selected.delete(d.id);
			draw(total);
			selUpdate();
		});
		const cols = [
			{ head: all, cell: (d) => {
				const c = el('input', { type: 'checkbox', class: 'dev-check',
				    'aria-label': `Select ${d.name || d.address}`, checked: st.selected.has(d.id) });
				c.addEventListener('change', () => {
					c.checked ? st.selected.add(d.id) : st.selected.delete(d.id);
					selUpdate();
				});
				return c;
			} },
			{ label: 'Name', sort: 'name', cell: (d) => el('span', { class: 'dev-name', text: d.name || '' }) },
			{ label: 'MAC', sort: 'mac', cell: (d) => d.mac || '' },
			{ label: 'Status', sort: 'status', cell: (d) => {
				const s = status(d.status);
				if (d.status_detail)
					s.setAttribute('title', d.status_detail);
				return s;
			} },
			{ label: 'Address', sort: 'address', cell: (d) => `${d.address}:${d.http_port}` },
			{ label: 'Model', sort: 'model', class: 'hide-narrow', cell: (d) => d.model || '' },
			{ label: 'Firmware', sort: 'firmware', class: 'hide-narrow', cell: (d) => d.firmware || '' },
			{ label: 'HTTPS', sort: 'https', cell: (d) => status(d.https) },
			{ label: 'Certificate expiry', sort: 'expiry', cell: (d) =>
			    d.certificate && d.certificate.not_after ? when(d.certificate.not_after).slice(0, 10) : '' },
		];
		clear(tableBox).append(table(`Devices ${total ? st.offset + 1 : 0}–` +
		    `${st.offset + st.rows.length} of ${total}`, cols, st.rows, {
			sort: st.sort, desc: st.desc, empty: 'No device matches.',
			onSort: (k) => {
				st.desc = st.sort === k ? !st.desc : false;
				st.sort = k;
				load();
			} }));
		const prev = el('button', { type: 'button', text: 'Previous page', disabled: st.offset === 0 });
		const next = el('button', { type: 'button', text: 'Next page',
		    disabled: st.offset + PAGE >= total });
		prev.addEventListener('click', () => { st.offset = Math.max(0, st.offset - PAGE); load(); });
		next.addEventListener('click', () => { st.offset += PAGE; load(); });
		clear(pager).append(prev, el('span', { class: 'muted',
		    text: `page ${Math.floor(st.offset / PAGE) + 1} of ${Math.max(1, Math.ceil(total / PAGE))}` }), next);
	}

	let debounce = null;
	qIn.addEventListener('input', () => {
		clearTimeout(debounce);
		debounce = setTimeout(() => { st.q = qIn.value.trim(); st.offset = 0; load(); }, 250);
	});
	stSel.addEventListener('change', () => { st.status = stSel.value; st.offset = 0; load(); });
	hSel.addEventListener('change', () => { st.https = hSel.value; st.offset = 0; load(); });

	bEnable.addEventListener('click', () => {
		const err = errorBox();
		const f = el('form', { class: 'grid', id: 'https-form', 'aria-label': 'Enable or update HTTPS' },
		    el('label', { for: 'https-kind' }, 'Action', el('select', { id: 'https-kind', name: 'kind' },
			el('option', { value: 'https-enable', text: 'Enable HTTPS' }),
			el('option', { value: 'https-update', text: 'Update HTTPS (new certificate)' }))),
		    el('label', { for: 'https-cn' }, 'Common name from', el('select', { id: 'https-cn', name: 'cn' },
			el('option', { value: '', text: 'the site setting' }),
			el('option', { value: 'ip', text: 'the IP address' }),
			el('option', { value: 'fqdn', text: 'the FQDN' }))),
		    el('label', { class: 'inline', for: 'https-only' },
			el('input', { type: 'checkbox', id: 'https-only', name: 'https_only' }), 'HTTPS only (close HTTP)'),
		    el('div', { class: 'actions' },
			el('button', { type: 'submit', class: 'primary', text: `Start on ${st.selected.size} device(s)` }),
			el('button', { type: 'button', text: 'Close', onclick: () => clear(panel) })),
		    err);
		f.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const body = { kind: f.elements.kind.value, devices: [...st.selected] };
			if (f.elements.cn.value)
				body.cn = f.elements.cn.value;
			if (f.elements.https_only.checked)
				body.https_only = true;
			try {
				const t = await api('POST', '/api/v1/tasks', { body });
				location.hash = `#/tasks/${t.id}`;
			} catch (e) {
				showError(err, e);
			}
		});
		clear(panel).append(f);
		f.elements.kind.focus();
	});

	bRemove.addEventListener('click', async () => {
		const ids = [...st.selected];
		if (!confirm(`Remove ${ids.length} device(s) from the inventory?`))
			return;
		const failed = [];
		for (const id of ids) {
			try {
				await api('DELETE', `/api/v1/devices/${id}`);
				st.selected.delete(id);
			} catch (e) {
				failed.push(`device ${id}: ${e.message}`);
			}
		}
		showError(actErr, failed.length ? failed.join('; ') : null);
		note.textContent = `${ids.length - failed.length} device(s) removed.`;
		selUpdate();
		load();
	});

	bAdd.addEventListener('click', () => {
		const err = errorBox();
		const inp = (id, label, attrs = {}) => el('label', { for: id }, label,
		    el('input', { id, name: id.replace('add-', ''), ...attrs }));
		const f = el('form', { class: 'grid', id: 'add-form', 'aria-label': 'Add a device' },
		    inp('add-address', 'Address (IP or name)', { required: true }),
		    inp('add-http_port', 'HTTP port', { type: 'number', min: 1, max: 65535, value: 80 }),
		    inp('add-https_port', 'HTTPS port', { type: 'number', min: 1, max: 65535, value: 443 }),
		    inp('add-user', 'User', { required: true, autocomplete: 'off' }),
		    inp('add-password', 'Password', { type: 'password', required: true, autocomplete: 'new-password' }),
		    inp('add-name', 'Name'),
		    el('div', { class: 'actions' },
			el('button', { type: 'submit', class: 'primary', text: 'Add' }),
			el('button', { type: 'button', text: 'Close', onclick: () => clear(panel) })),
		    err);
		f.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const v = (n) => f.elements[n].value.trim();
			const body = { address: v('address'), user: v('user'), password: f.elements.password.value };
			if (v('http_port'))
				body.http_port = Number(v('http_port'));
			if (v('https_port'))
				body.https_port = Number(v('https_port'));
			if (v('name'))
				body.name = v('name');
			try {
				const d = await api('POST', '/api/v1/devices', { body });
				note.textContent = `Added device ${d.id} (${d.address}): ${d.status || 'unknown'}, HTTPS ${d.https || 'unknown'}.`;
				clear(panel);
				load();
			} catch (e) {
				showError(err, e);
			}
		});
		clear(panel).append(f);
		f.elements.address.focus();
	});

	bImport.addEventListener('click', () => {
		const err = errorBox();
		const report = el('div', { id: 'import-report' });
		const text = el('textarea', { id: 'import-csv', name: 'csv', rows: 6, spellcheck: 'false',
		    placeholder: 'address,http_port,https_port,user,password,name' });
		const file = el('input', { type: 'file', id: 'import-file', accept: '.csv,text/csv,text/plain' });
		file.addEventListener('change', async () => {
			if (file.files[0])
				text.value = await file.files[0].text();
		});
		const f = el('form', { id: 'import-form', 'aria-label': 'Import devices from CSV' },
		    el('label', { for: 'import-csv', text: 'CSV: address,http_port,https_port,user,password,name (one device a line)' }),
		    text, el('div', { class: 'toolbar' },
			el('label', { for: 'import-file' }, 'or a file', file),
			el('button', { type: 'submit', class: 'primary', text: 'Import' }),
			el('button', { type: 'button', text: 'Close', onclick: () => clear(panel) })),
		    err, report);
		f.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			if (!text.value.trim()) {
				showError(err, 'Paste a CSV list or choose a file.');
				return;
			}
			const btn = f.querySelector('button[type=submit]');
			btn.disabled = true;
			try {
				const r = await api('POST', '/api/v1/devices/import', { csv: text.value });
				showError(err, r.stopped ? `stopped: ${r.stopped}` : null);
				text.value = '';
				clear(report).append(el('p', { id: 'import-summary', role: 'status',
				    text: `${r.added} added, ${r.failed} refused.` }),
				    table('The import, line by line', [
					{ label: 'Line', key: 'line', class: 'num' },
					{ label: 'Result', cell: (l) => el('span', { class: l.result === 'added' ? 'st-ok' : 'st-bad',
					    text: l.result }) },
					{ label: 'Device', cell: (l) => l.device ? `${l.device.id}: ${l.device.address} ` +
					    `(${l.device.status || 'unknown'}, HTTPS ${l.device.https || 'unknown'})` : '' },
					{ label: 'Why refused', cell: (l) => l.error || '' },
				    ], r.lines));
				load();
			} catch (e) {
				showError(err, e);
			} finally {
				btn.disabled = false;
			}
		});
		clear(panel).append(f);
		text.focus();
	});

	selUpdate();
	load();
}

// ---------------------------------------------------------------- tasks
async function tasks(root, args, ctx) {
	if (args[0])
		return task(root, args[0], ctx);
	heading(root, 'Tasks');
	const box = el('div');
	root.append(box);
	async function poll() {
		const r = await api('GET', '/api/v1/tasks');
		if (!ctx.alive)
			return;
		const rows = r.tasks.slice().reverse();
		clear(box).append(table('Every task, newest first', [
			{ label: 'Task', cell: (t) => el('a', { href: `#/tasks/${t.id}`, text: `Task ${t.id}` }) },
			{ label: 'Kind', key: 'kind' },
			{ label: 'State', cell: (t) => status(t.state) },
			{ label: 'Devices', class: 'num', cell: (t) => String(t.devices.total) },
			{ label: 'Finished', class: 'num', cell: (t) => String(t.devices.finished) },
			{ label: 'Failed', class: 'num', cell: (t) => String(t.devices.failed) },
			{ label: 'Created', cell: (t) => when(t.created_at) },
		], rows, { empty: 'No task yet: select devices and Enable HTTPS.' }));
		if (rows.some((t) => t.state === 'Queued' || t.state === 'Running'))
			ctx.timer = setTimeout(poll, 2000);
	}
	await poll();
}

const ENDED = new Set(['Finished', 'Failed', 'Cancelled']);

async function task(root, id, ctx) {
	heading(root, `Task ${id}`);
	const facts = el('p', { id: 'task-facts' });
	const prog = el('progress', { id: 'task-progress', max: 1, value: 0, 'aria-label': 'Devices done' });
	const counts = el('div', { class: 'progress-counts', id: 'task-counts', role: 'status', 'aria-live': 'polite' });
	const err = errorBox();
	const pollErr = errorBox();
	const bCancel = el('button', { type: 'button', class: 'danger', id: 'task-cancel', text: 'Cancel the task' });
	const bRetry = el('button', { type: 'button', id: 'task-retry', text: 'Retry the failed devices' });
	const results = el('div', { id: 'task-results' });
	const detail = el('div', { id: 'task-detail' });
	root.append(facts, pollErr, prog, counts, el('div', { class: 'toolbar' }, bCancel, bRetry), err, detail,
	    results);

	function showResult(r) {
		clear(detail).append(el('section', { class: 'card', 'aria-labelledby': 'res-h' },
		    el('h2', { id: 'res-h', text: `Device ${r.device_id}${r.address ? ` (${r.address})` : ''}` }),
		    el('dl', { class: 'kv' },
			el('dt', { text: 'Result' }), el('dd', {}, status(r.status)),
			el('dt', { text: 'Step' }), el('dd', { text: r.step || '' }),
			el('dt', { text: 'In its own words' }), el('dd', { id: 'res-error', text: r.error || '—' }),
			el('dt', { text: 'Attempts' }), el('dd', { text: r.attempts }),
			el('dt', { text: 'Certificate' }), el('dd', {}, r.certificate_serial ?
			    el('a', { href: `#/certificates/${r.certificate_serial}`, text: r.certificate_serial }) : '—'),
			el('dt', { text: 'Started' }), el('dd', { text: when(r.started_at) }),
			el('dt', { text: 'Ended' }), el('dd', { text: when(r.finished_at) }),
			el('dt', { text: 'Time' }), el('dd', { text: r.duration_ms ? `${r.duration_ms} ms` : '' }))));
	}

	function draw(t) {
		const d = t.devices;
		facts.textContent = `${t.kind}: ${t.state}${t.cancel_requested && !ENDED.has(t.state) ?
		    ' (cancelling)' : ''}; created ${when(t.created_at)}` +
		    (t.finished_at ? `, ended ${when(t.finished_at)}` : '');
		prog.max = Math.max(1, d.total);
		prog.value = d.finished + d.failed + d.cancelled;
		clear(counts).append(
		    el('span', {}, 'State: ', el('strong', { id: 'task-state', text: t.state })),
		    el('span', { text: `${d.finished} done` , id: 'task-done' }),
		    el('span', { text: `${d.failed} failed`, id: 'task-failed' }),
		    el('span', { text: `${d.cancelled} cancelled` }),
		    el('span', { text: `${d.pending + d.running} to do`, id: 'task-todo' }),
		    el('span', { text: `of ${d.total}` }));
		bCancel.disabled = ENDED.has(t.state) || t.cancel_requested;
		bRetry.disabled = !ENDED.has(t.state) || d.failed + d.cancelled === 0;
		clear(results).append(table('The result of each device', [
			{ label: 'Device', cell: (r) => el('button', { type: 'button', class: 'linkish',
			    text: `${r.device_id}`, 'aria-label': `Show the result of device ${r.device_id}`,
			    onclick: () => showResult(r) }) },
			{ label: 'Address', key: 'address' },
			{ label: 'MAC', key: 'mac' },
			{ label: 'Result', cell: (r) => status(r.status) },
			{ label: 'Step', key: 'step' },
			{ label: 'Description', cell: (r) => r.error || '' },
		], t.results));
	}

	async function poll() {
		let t;
		try {
			t = await api('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
		} catch (e) {
			if (!ctx.alive)
				return;
			showError(pollErr, e);
			// the server was busy or out of reach a moment: keep following the task
			if (e.status === 0 || e.status === 429 || e.status >= 500)
				ctx.timer = setTimeout(poll, 3000);
			return;
		}
		if (!ctx.alive)
			return;
		showError(pollErr, null);
		draw(t);
		if (!ENDED.has(t.state))
			ctx.timer = setTimeout(poll, 1000);
	}

	bCancel.addEventListener('click', async () => {
		try {
			draw(await api('POST', `/api/v1/tasks/${id}/cancel`));
			showError(err, null);
		} catch (e) {
			showError(err, e);
		}
	});
	bRetry.addEventListener('click', async () => {
		try {
			draw(await api('POST', `/api/v1/tasks/${id}/retry-failed`));
			showError(err, null);
			clearTimeout(ctx.timer);
			ctx.timer = setTimeout(poll, 1000);
		} catch (e) {
			showError(err, e);
		}
	});
	await poll();
}

// ---------------------------------------------------------------- certificates
const CPAGE = 50;

async function certificates(root, args, ctx) {
	if (args[0])
		return certificate(root, args[0], ctx);
	heading(root, 'Certificates');
	const st = { offset: 0, profile: '', days: '' };
	const prof = el('select', { id: 'cert-profile' }, el('option', { value: '', text: 'any' }),
	    PROFILES.map((p) => el('option', { value: p, text: p })));
	const days = el('input', { id: 'cert-days', type: 'number', min: 0, max: 36525, placeholder: 'days' });
	const err = errorBox();
	const box = el('div');
	const pager = el('div', { class: 'pager' });
	const panel = el('div', { id: 'cert-panel' });
	root.append(el('div', { class: 'toolbar' },
	    el('button', { type: 'button', id: 'issue-rs-btn', text: 'Recording server certificate…',
		onclick: () => issueRecordingServer(panel, load) }),
	    el('button', { type: 'button', id: 'issue-csr-btn', text: 'Issue from a CSR…',
		onclick: () => issueFromCsr(panel, load) })), panel,
	    el('div', { class: 'toolbar', role: 'search' },
	    el('label', { for: 'cert-profile' }, 'Profile', prof),
	    el('label', { for: 'cert-days' }, 'Expiring within (days)', days)), err, box, pager);
	async function load() {
		let r;
		try {
			r = await api('GET', '/api/v1/certificates', { query: { limit: CPAGE, offset: st.offset,
			    profile: st.profile, expiring_within_days: st.days } });
		} catch (e) {
			if (ctx.alive)
				showError(err, e);
			return;
		}
		if (!ctx.alive)
			return;
		showError(err, null);
		clear(box).append(table(`Certificates ${r.total ? st.offset + 1 : 0}–${st.offset + r.certificates.length} of ${r.total}`, [
			{ label: 'Serial', cell: (c) => el('a', { href: `#/certificates/${c.serial}`, text: c.serial.slice(0, 16) + '…' }) },
			{ label: 'Subject', key: 'subject' },
			{ label: 'Profile', key: 'profile' },
			{ label: 'Status', cell: (c) => status(c.status) },
			{ label: 'Ends', cell: (c) => when(c.not_after) },
		], r.certificates));
		const prev = el('button', { type: 'button', text: 'Previous page', disabled: st.offset === 0 });
		const next = el('button', { type: 'button', text: 'Next page', disabled: st.offset + CPAGE >= r.total });
		prev.addEventListener('click', () => { st.offset = Math.max(0, st.offset - CPAGE); load(); });
		next.addEventListener('click', () => { st.offset += CPAGE; load(); });
		clear(pager).append(prev, next);
	}
	prof.addEventListener('change', () => { st.profile = prof.value; st.offset = 0; load(); });
	days.addEventListener('change', () => { st.days = days.value; st.offset = 0; load(); });
	await load();
}

const PROFILES = ['server', 'client', 'device-https', 'device-8021x', 'component-server',
    'component-client'];

const list = (v) => v.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function b64bytes(b64) {
	const bin = atob(b64);
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		out[i] = bin.charCodeAt(i);
	return out;
}

function issuedCard(c, extra) {
	return el('section', { class: 'card', id: 'issued', 'aria-labelledby': 'issued-h' },
	    el('h2', { id: 'issued-h', text: 'Issued' }),
	    el('dl', { class: 'kv' },
		el('dt', { text: 'Serial' }), el('dd', { id: 'issued-serial', text: c.serial }),
		el('dt', { text: 'Subject' }), el('dd', { text: c.subject }),
		el('dt', { text: 'Names' }), el('dd', { text: (c.sans || []).join(', ') }),
		el('dt', { text: 'Valid until' }), el('dd', { text: when(c.not_after) + (c.clamped ?
		    ' (cut to the CA\'s own end)' : '') })),
	    el('div', { class: 'toolbar' }, extra,
		c.certificate ? el('button', { type: 'button', text: 'Download the certificate (PEM)',
		    onclick: () => download(new Blob([c.certificate], { type: 'application/x-pem-file' }),
			`${c.serial}.pem`) }) : null,
		c.chain ? el('button', { type: 'button', text: 'Download the chain (PEM)',
		    onclick: () => download(new Blob([c.chain], { type: 'application/x-pem-file' }),
			`${c.serial}.chain.pem`) }) : null));
}

// The recording-server flow: names and addresses in, a key made here, a PKCS#12 out.
function issueRecordingServer(panel, reload) {
	const err = errorBox();
	const out = el('div');
	const inp = (id, label, attrs = {}) => el('label', { for: id }, label, el('input', { id, name: id, ...attrs }));
	const f = el('form', { class: 'grid', id: 'rs-form', 'aria-label': 'Recording server certificate' },
	    inp('rs-dns', 'DNS names (comma or space between)', { placeholder: 'nvr1.site.example' }),
	    inp('rs-ip', 'IP addresses', { placeholder: '10.0.0.10' }),
	    inp('rs-days', 'Days (empty: the profile\'s)', { type: 'number', min: 1, max: 36525 }),
	    inp('rs-pass', 'PKCS#12 password (8 or more characters)', { type: 'password', required: true,
		minlength: 8, autocomplete: 'new-password' }),
	    el('div', { class: 'actions' },
		el('button', { type: 'submit', class: 'primary', text: 'Issue and make the PKCS#12' }),
		el('button', { type: 'button', text: 'Close', onclick: () => clear(panel) })),
	    err);
	f.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const body = { profile: 'server', generate_key: true, p12_password: f.elements['rs-pass'].value };
		const dns = list(f.elements['rs-dns'].value), ip = list(f.elements['rs-ip'].value);
		if (dns.length)
			body.dns = dns;
		if (ip.length)
			body.ip = ip;
		if (f.elements['rs-days'].value)
			body.days = Number(f.elements['rs-days'].value);
		try {
			const c = await api('POST', '/api/v1/issue', { body });
			showError(err, null);
			f.elements['rs-pass'].value = '';
			const name = (dns[0] || ip[0] || c.serial).replace(/[^A-Za-z0-9.-]/g, '_');
			const p12 = () => download(new Blob([b64bytes(c.pkcs12)], { type: 'application/x-pkcs12' }),
			    `${name}.p12`);
			clear(out).append(issuedCard(c, el('button', { type: 'button', class: 'primary',
			    id: 'rs-p12', text: 'Download the PKCS#12', onclick: p12 })));
			reload();
		} catch (e) {
			showError(err, e);
		}
	});
	clear(panel).append(f, out);
	f.elements['rs-dns'].focus();
}

function issueFromCsr(panel, reload) {
	const err = errorBox();
	const out = el('div');
	const csr = el('textarea', { id: 'csr-pem', name: 'csr', rows: 8, spellcheck: 'false',
	    placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
	const file = el('input', { type: 'file', id: 'csr-file', accept: '.csr,.pem,.req' });
	file.addEventListener('change', async () => {
		if (file.files[0])
			csr.value = await file.files[0].text();
	});
	const f = el('form', { id: 'csr-form', 'aria-label': 'Issue from a CSR' },
	    el('label', { for: 'csr-pem', text: 'The certificate request (PKCS#10, PEM)' }), csr,
	    el('div', { class: 'toolbar' },
		el('label', { for: 'csr-file' }, 'or a file', file),
		el('label', { for: 'csr-profile' }, 'Profile', el('select', { id: 'csr-profile', name: 'profile' },
		    PROFILES.map((p) => el('option', { value: p, text: p })))),
		el('label', { for: 'csr-dns' }, 'DNS names (empty: the CSR\'s)', el('input', { id: 'csr-dns', name: 'dns' })),
		el('label', { for: 'csr-ip' }, 'IP addresses', el('input', { id: 'csr-ip', name: 'ip' })),
		el('label', { for: 'csr-days' }, 'Days', el('input', { id: 'csr-days', name: 'days', type: 'number', min: 1, max: 36525 })),
		el('button', { type: 'submit', class: 'primary', text: 'Issue' }),
		el('button', { type: 'button', text: 'Close', onclick: () => clear(panel) })),
	    err, out);
	f.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const body = { profile: f.elements.profile.value, csr: csr.value };
		const dns = list(f.elements.dns.value), ip = list(f.elements.ip.value);
		if (dns.length)
			body.dns = dns;
		if (ip.length)
			body.ip = ip;
		if (f.elements.days.value)
			body.days = Number(f.elements.days.value);
		try {
			const c = await api('POST', '/api/v1/issue', { body });
			showError(err, null);
			clear(out).append(issuedCard(c));
			reload();
		} catch (e) {
			showError(err, e);
		}
	});
	clear(panel).append(f);
	csr.focus();
}

async function certificate(root, serial, ctx) {
	heading(root, `Certificate ${serial}`);
	const c = await api('GET', `/api/v1/certificates/${encodeURIComponent(serial)}`);
	if (!ctx.alive)
		return;
	const kv = [];
	for (const k of ['subject', 'issuer', 'profile', 'status', 'not_before', 'not_after', 'sha256']) {
		if (c[k] !== undefined && c[k] !== null)
			kv.push(el('dt', { text: k.replace('_', ' ') }), el('dd', { text: /^not_/.test(k) ? when(c[k]) : c[k] }));
	}
	if (c.sans)
		kv.push(el('dt', { text: 'names' }), el('dd', { text: [].concat(c.sans).join(', ') }));
	const pem = c.pem || c.certificate || '';
	root.append(el('dl', { class: 'kv' }, kv),
	    pem ? el('div', { class: 'toolbar' }, el('button', { type: 'button', text: 'Download PEM',
		onclick: () => download(new Blob([pem], { type: 'application/x-pem-file' }), `${serial}.pem`) })) : null,
	    pem ? el('pre', { class: 'pem', text: pem }) : null,
	    c.chain ? el('details', {}, el('summary', { text: 'Chain' }), el('pre', { class: 'pem', text: c.chain })) : null);
}

// ---------------------------------------------------------------- CA
async function ca(root, args, ctx) {
	heading(root, 'Certificate authority');
	const c = await api('GET', '/api/v1/ca');
	if (!ctx.alive)
		return;
	const err = errorBox();
	const dl = (fmt, ext) => el('button', { type: 'button', text: `Download ${fmt.toUpperCase()}`,
	    onclick: async () => {
		try {
			download(await api('GET', '/api/v1/ca/certificate', { query: { format: fmt }, raw: true }),
			    `ca.${ext}`);
			showError(err, null);
		} catch (e) {
			showError(err, e);
		}
	} });
	root.append(el('dl', { class: 'kv', id: 'ca-facts' },
	    el('dt', { text: 'Subject' }), el('dd', { id: 'ca-subject', text: c.subject }),
	    el('dt', { text: 'Issuer' }), el('dd', { text: c.issuer }),
	    el('dt', { text: 'Key' }), el('dd', { text: c.key }),
	    el('dt', { text: 'Valid from' }), el('dd', { text: when(c.not_before) }),
	    el('dt', { text: 'Valid until' }), el('dd', { text: `${when(c.not_after)} (${daysLeft(c.not_after)} days left)` }),
	    el('dt', { text: 'SHA-256' }), el('dd', { text: c.sha256 }),
	    el('dt', { text: 'Root' }), el('dd', { text: c.root ? 'yes' : 'no (an intermediate)' }),
	    el('dt', { text: 'Certificates issued' }), el('dd', { text: c.certificates_issued })),
	    el('div', { class: 'toolbar' }, dl('pem', 'pem'), dl('der', 'der'), dl('p7b', 'p7b')), err,
	    el('details', {}, el('summary', { text: 'PEM' }), el('pre', { class: 'pem', text: c.certificate || '' })));
}

// ---------------------------------------------------------------- alarms
async function alarms(root, args, ctx) {
	heading(root, 'Alarms');
	const all = el('input', { type: 'checkbox', id: 'alarms-all' });
	const err = errorBox();
	const box = el('div', { id: 'alarms' });
	root.append(el('div', { class: 'toolbar' }, el('label', { class: 'inline', for: 'alarms-all' }, all,
	    'Show cleared alarms too')), err, box);
	async function load() {
		const r = await api('GET', '/api/v1/alarms', { query: { all: all.checked ? 'true' : undefined } });
		if (!ctx.alive)
			return;
		clear(box).append(table('Alarms, newest first', [
			{ label: 'Severity', cell: (a) => status(a.severity) },
			{ label: 'Subject', key: 'subject' },
			{ label: 'Message', key: 'message' },
			{ label: 'State', cell: (a) => status(a.state) },
			{ label: 'Raised', cell: (a) => when(a.raised_at) },
			{ label: 'Acknowledged', cell: (a) => a.acknowledged ?
			    `${when(a.acknowledged_at)} by ${a.acknowledged_by || '?'}` :
			    el('button', { type: 'button', class: 'ack', text: 'Acknowledge',
				'aria-label': `Acknowledge: ${a.message}`, onclick: async () => {
				try {
					await api('POST', `/api/v1/alarms/${a.id}/ack`);
					showError(err, null);
					load();
				} catch (e) {
					showError(err, e);
				}
			} }) },
		], r.alarms, { empty: 'No alarm.' }));
	}
	all.addEventListener('change', load);
	await load();
}

// ---------------------------------------------------------------- components, endpoints
function scalar(v) {
	if (v === null || v === undefined)
		return '';
	if (typeof v === 'object')
		return JSON.stringify(v);
	return /^\d{4}-\d\d-\d\dT/.test(String(v)) ? when(v) : String(v);
}

async function components(root, args, ctx) {
	heading(root, 'Components');
	const r = await api('GET', '/api/v1/components');
	if (!ctx.alive)
		return;
	const rows = r.components || [];
	const keys = rows.length ? Object.keys(rows[0]).filter((k) => typeof rows[0][k] !== 'object' || rows[0][k] === null) : [];
	root.append(table('Internal components and their certificates', keys.map((k) => ({ label: k,
	    cell: (c) => scalar(c[k]) })), rows, { empty: 'No component (`vmspki component add`).' }));
}

async function endpoints(root, args, ctx) {
	heading(root, 'Endpoints');
	const r = await api('GET', '/api/v1/endpoints');
	if (!ctx.alive)
		return;
	const err = errorBox();
	root.append(err, table('Servers vmspki watches', [
		{ label: 'Address', key: 'address' },
		{ label: 'Status', cell: (p) => status(p.status) },
		{ label: 'Why', key: 'detail' },
		{ label: 'Ends', cell: (p) => when(p.not_after) },
		{ label: 'Checked', cell: (p) => when(p.checked_at) },
		{ label: '', cell: (p) => el('button', { type: 'button', text: 'Check now', onclick: async () => {
			try {
				await api('POST', `/api/v1/endpoints/${p.id}/check`);
				location.reload();
			} catch (e) {
				showError(err, e);
			}
		} }) },
	], r.endpoints || [], { empty: 'No endpoint (`vmspki endpoint add HOST:PORT`).' }));
}

// ---------------------------------------------------------------- settings
async function settings(root, args, ctx) {
	heading(root, 'Settings');
	const r = await api('GET', '/api/v1/settings');
	if (!ctx.alive)
		return;
	const row = (st) => {
		const id = `set-${st.name.replace(/[^a-z0-9]/g, '-')}`;
		const input = el('input', { id, name: st.name, value: st.value ?? '', 'aria-describedby': `${id}-help` });
		const err = el('span', { class: 'error', role: 'alert' });
		const note = el('span', { class: 'note', role: 'status' });
		const save = async (value) => {
			try {
				const n = await api('POST', `/api/v1/settings/${encodeURIComponent(st.name)}`, { body: { value } });
				input.value = n.value ?? '';
				err.textContent = '';
				note.textContent = value === null ? 'default put back' : 'saved';
			} catch (e) {
				note.textContent = '';
				err.textContent = e.message;
			}
		};
		return el('tr', {},
		    el('th', { scope: 'row' }, el('label', { for: id, text: st.name })),
		    el('td', {}, input, ' ', err, note),
		    el('td', { id: `${id}-help` }, st.help, el('span', { class: 'muted', text: ` (default: ${st.default || '""'})` })),
		    el('td', {}, el('button', { type: 'button', text: 'Save', 'aria-label': `Save ${st.name}`,
			onclick: () => save(input.value) }), ' ',
			el('button', { type: 'button', text: 'Default', 'aria-label': `Put the default of ${st.name} back`,
			onclick: () => save(null) })));
	};
	root.append(el('div', { class: 'tablewrap' }, el('table', { id: 'settings' },
	    el('caption', { text: 'Site settings (each change is written to the audit log)' }),
	    el('thead', {}, el('tr', {}, ['Setting', 'Value', 'What it does', ''].map((h) => el('th', { scope: 'col', text: h })))),
	    el('tbody', {}, r.settings.map(row)))));
}

export const pages = {
	overview: { title: 'Overview', show: overview },
	devices: { title: 'Devices', show: devices },
	tasks: { title: 'Tasks', show: tasks },
	certificates: { title: 'Certificates', show: certificates },
	ca: { title: 'CA', show: ca },
	alarms: { title: 'Alarms', show: alarms },
	components: { title: 'Components', show: components },
	endpoints: { title: 'Endpoints', show: endpoints },
	settings: { title: 'Settings', show: settings },
};
