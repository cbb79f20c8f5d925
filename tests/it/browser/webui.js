// Drives the web UI in headless Chromium (Debian's /usr/bin/chromium, playwright-core) as an
// operator would, for tests/it/daemon_webui.sh: sign in, see the CA, import cameras by CSV,
// enable HTTPS on them and watch the task reach Enabled without a reload, open a device's
// result. HOME's NSS database trusts the site CA, so the page loads over verified HTTPS.
//
//   node webui.js --home DIR --shots DIR --url https://127.0.0.1:PORT/ --token-file F
//                 --csv F --ca-subject S --devices N --xss NAME [--axe PATH]
//
// Prints one JSON line per check: {"check": "...", "ok": true|false, "detail": "..."}; the shell
// test turns them into TAP. Exits 0 when it ran to the end, 1 when the browser failed.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

function parseArgs(argv) {
	const o = { chromium: '/usr/bin/chromium' };
	for (let i = 0; i < argv.length; i += 2) {
		if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
			process.stderr.write(`webui.js: bad argument ${argv[i]}\n`);
			process.exit(2);
		}
		o[argv[i].slice(2).replace(/-/g, '_')] = argv[i + 1];
	}
	for (const k of ['home', 'shots', 'url', 'token_file', 'csv', 'ca_subject', 'devices', 'xss'])
		if (!o[k]) {
			process.stderr.write(`webui.js: --${k.replace(/_/g, '-')} is required\n`);
			process.exit(2);
		}
	return o;
}

function report(check, ok, detail) {
	process.stdout.write(JSON.stringify({ check, ok: !!ok, detail: detail === undefined ? '' : String(detail) }) + '\n');
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	const n = Number(o.devices);
	fs.mkdirSync(o.shots, { recursive: true });
	const env = { ...process.env, HOME: o.home };
	delete env.SSLKEYLOGFILE;
	const ctx = await chromium.launchPersistentContext(path.join(o.home, 'chromium-profile'), {
		executablePath: o.chromium, headless: true, env, timeout: 120000,
		viewport: { width: 1280, height: 800 },
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const problems = [];     // console errors, page errors, failed requests, 4xx/5xx answers
	const page = ctx.pages()[0] || await ctx.newPage();
	const expected = (t) => expecting !== 0 && t.includes(String(expecting));
	page.on('console', (m) => {
		if (m.type() === 'error' && !expected(m.text()))
			problems.push(`console: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
	page.on('response', (r) => {
		if (r.status() >= 400 && r.status() !== expecting)
			problems.push(`HTTP ${r.status()}: ${r.url()}`);
	});
	let expecting = 0;      // an error status the test provokes on purpose (not a problem)
	let dialogs = 0;
	page.on('dialog', async (d) => {
		dialogs++;
		problems.push(`dialog: ${d.type()} ${d.message()}`);
		await d.dismiss();
	});
	let loads = 0;
	page.on('load', () => loads++);
	const shot = async (name) => page.screenshot({ path: path.join(o.shots, `${name}.png`), fullPage: true });
	const axeSrc = o.axe ? fs.readFileSync(o.axe, 'utf8') : null;
	const axe = async (name) => {
		if (!axeSrc)
			return;
		// through the debugging protocol, which the page's CSP does not govern (an inline
		// <script> would be refused, as it should be)
		await page.evaluate(axeSrc).catch(() => {});
		const r = await page.evaluate(async () => {
			if (!window.axe)
				return { error: 'axe-core did not load (CSP?)' };
			const res = await window.axe.run(document, { resultTypes: ['violations'] });
			return { v: res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			    .map((v) => `${v.id} (${v.impact}): ${v.nodes.length} node(s)`) };
		});
		report(`axe-core: no serious or critical violation on the ${name} page`,
		    !r.error && r.v.length === 0, r.error || r.v.join('; '));
	};

	try {
		// ---- the page and its headers
		const resp = await page.goto(o.url, { waitUntil: 'load', timeout: 60000 });
		const h = resp.headers();
		report('the UI loads over HTTPS (200)', resp.status() === 200, resp.status());
		report("Content-Security-Policy has default-src 'self' and frame-ancestors 'none'",
		    /default-src 'self'/.test(h['content-security-policy'] || '') &&
		    /frame-ancestors 'none'/.test(h['content-security-policy'] || ''), h['content-security-policy']);
		report('X-Content-Type-Options: nosniff', h['x-content-type-options'] === 'nosniff', h['x-content-type-options']);
		report('Referrer-Policy: no-referrer', h['referrer-policy'] === 'no-referrer', h['referrer-policy']);
		const sd = await resp.securityDetails();
		report('the certificate verified (TLS details present)', !!sd, sd && sd.protocol);

		// ---- sign in
		await page.waitForSelector('#token', { timeout: 20000 });
		await shot('signin');
		// by keyboard: the field has the focus, Enter submits
		const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
		report('the sign-in page puts the focus in the token field', focused === 'token', focused);
		await page.keyboard.type(fs.readFileSync(o.token_file, 'utf8').trim());
		await page.keyboard.press('Enter');
		await page.waitForSelector('#ca-subject', { timeout: 20000 });
		const subj = await page.textContent('#ca-subject');
		report('signed in: the overview shows the CA subject', subj === o.ca_subject, subj);
		const stored = await page.evaluate(() => ({ s: !!sessionStorage.getItem('vmspki.token'),
		    c: document.cookie }));
		report('the token is kept in sessionStorage, no cookie', stored.s && stored.c === '', JSON.stringify(stored));
		await page.waitForSelector('svg.chart', { timeout: 10000 });
		report('the overview draws the expiry chart (52 weeks)',
		    (await page.locator('svg.chart rect').count()) === 52, await page.locator('svg.chart rect').count());
		await shot('overview');
		await axe('overview');

		// ---- import the cameras by CSV
		await page.click('a[href="#/devices"]');
		await page.waitForSelector('#dev-import-btn');
		await page.click('#dev-import-btn');
		await page.fill('#import-csv', fs.readFileSync(o.csv, 'utf8'));
		await page.click('#import-form button[type=submit]');
		await page.waitForSelector('#import-summary', { timeout: 60000 });
		const sum = await page.textContent('#import-summary');
		report(`the CSV import reports ${n} added, 1 refused`, sum === `${n} added, 1 refused.`, sum);
		const reportRows = await page.locator('#import-report tbody tr').count();
		report('the import shows a line per CSV line', reportRows === n + 1, reportRows);
		const why = await page.locator('#import-report tbody tr').last().textContent();
		report('the refused line says why in the API\'s words, the markup name as text',
		    why.includes('host name') && why.includes(o.xss), why);
		await page.waitForFunction((k) => document.querySelectorAll('#dev-table tbody tr[data-id]').length === k,
		    n, { timeout: 20000 });
		await shot('devices-imported');

		// ---- a hostile name shows as text
		const xss = page.locator('#dev-table td', { hasText: o.xss });
		const xssText = await xss.first().textContent().catch(() => null);
		report('the camera whose model is an <img onerror> tag shows it as text',
		    xssText !== null && xssText.includes(o.xss), xssText);
		report('no <img> element was made from it', (await page.locator('main img').count()) === 0);

		// ---- sorting and filtering, server side
		await page.fill('#dev-q', 'no-such-camera-anywhere');
		await page.waitForSelector('#dev-table caption:has-text("of 0")', { timeout: 10000 });
		report('a filter that matches nothing shows no device (server side)', true);
		await page.fill('#dev-q', '');
		await page.waitForSelector(`#dev-table caption:has-text("of ${n}")`, { timeout: 10000 });
		await page.click('#dev-table th button.sort:has-text("Name")');
		await page.waitForSelector('#dev-table th[aria-sort="ascending"]', { timeout: 10000 });
		const names = await page.locator('#dev-table .dev-name').allTextContents();
		const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
		report('sorting by name orders the rows by name', JSON.stringify(names) === JSON.stringify(sorted),
		    names.slice(0, 3).join(' | '));

		// ---- select them all, enable HTTPS
		await page.check('#dev-table thead input[type=checkbox]');
		const sel = await page.textContent('#dev-selected');
		report(`the header checkbox selects the ${n} devices`, sel === `${n} selected`, sel);
		await page.click('#dev-https-btn');
		await page.selectOption('#https-kind', 'https-enable');
		await page.selectOption('#https-cn', 'ip');
		const loadsBefore = loads;
		await page.evaluate(() => { window.__noReload = 'still here'; });
		await page.click('#https-form button[type=submit]');
		await page.waitForSelector('#task-counts', { timeout: 20000 });
		const seen = new Set();
		const t0 = Date.now();
		let state = '';
		while (Date.now() - t0 < 90000) {
			state = await page.textContent('#task-state').catch(() => '');
			seen.add(await page.textContent('#task-done').catch(() => ''));
			if (state === 'Finished' || state === 'Failed' || state === 'Cancelled')
				break;
			await page.waitForTimeout(250);
		}
		const done = await page.textContent('#task-done');
		report(`the task reaches Finished with ${n} done`, state === 'Finished' && done === `${n} done`,
		    `${state}, ${done}, failed: ${await page.textContent('#task-failed')}`);
		report('the progress moved on the page while the task ran (several counts seen)', seen.size >= 2,
		    [...seen].join(' / '));
		const kept = await page.evaluate(() => window.__noReload);
		report('no reload: the page never loaded again', kept === 'still here' && loads === loadsBefore,
		    `${kept}, loads ${loadsBefore} -> ${loads}`);
		const pv = await page.evaluate(() => [document.getElementById('task-progress').value,
		    document.getElementById('task-progress').max]);
		report('the progress bar is full', pv[0] === n && pv[1] === n, pv.join('/'));
		await shot('task');
		await axe('task');

		// ---- one device's result
		await page.click('#task-results tbody tr:first-child button');
		await page.waitForSelector('#task-detail dl', { timeout: 5000 });
		const det = await page.textContent('#task-detail');
		report("one device's result opens (Finished, its step and certificate)",
		    /Finished/.test(det) && /Certificate/.test(det), det.slice(0, 120));

		// ---- the devices now Enabled
		await page.click('a[href="#/devices"]');
		await page.waitForSelector('#dev-https');
		await page.selectOption('#dev-https', 'Enabled');
		await page.waitForSelector(`#dev-table caption:has-text("of ${n}")`, { timeout: 10000 });
		report(`the devices page lists the ${n} devices as HTTPS Enabled`, true);
		await shot('devices');
		await axe('devices');

		// ---- Settings: a bad value is refused in the API's words next to it; a good one is
		// saved, and the warning window then passes the certificates' end
		{
			await page.click('a[href="#/settings"]');
			const inp = '#set-lifecycle-warning-days';
			await page.waitForSelector(inp, { timeout: 10000 });
			const row = page.locator('#settings tr', { has: page.locator(inp) });
			expecting = 422;
			await page.fill(inp, 'soon');
			await row.locator('button', { hasText: 'Save' }).click();
			await row.locator('.error:not(:empty)').waitFor({ timeout: 10000 });
			const msg = await row.locator('.error').textContent();
			report('a bad setting is refused with the API\'s sentence next to it', /warning_days|1\.\.365|number/.test(msg), msg);
			await page.waitForTimeout(200);
			expecting = 0;
			// A warning window must stay below device.days (the validity of new device
			// certificates): raise that first, so that the window can pass the end of the
			// certificates already issued (365 days) without a clock jump.
			{
				const days = '#set-device-days';
				const drow = page.locator('#settings tr', { has: page.locator(days) });
				await page.fill(days, '400');
				await drow.locator('button', { hasText: 'Save' }).click();
				await drow.locator('.note:has-text("saved")').waitFor({ timeout: 10000 });
			}
			await page.fill(inp, '365');
			await row.locator('button', { hasText: 'Save' }).click();
			await row.locator('.note:has-text("saved")').waitFor({ timeout: 10000 });
			report('lifecycle.warning_days is saved from the settings page', (await page.inputValue(inp)) === '365');
			await shot('settings');
			await axe('settings');
		}
		{
			await page.click('a[href="#/devices"]');
			await page.waitForSelector('#dev-table caption');
			await page.selectOption('#dev-status', 'OK');
			await page.waitForSelector('#dev-table caption:has-text("of 0")', { timeout: 10000 });
			report('no device is OK any more (status filter, server side)', true);
			await page.selectOption('#dev-status', 'Certificate about to expire');
			await page.waitForSelector(`#dev-table caption:has-text("of ${n}")`, { timeout: 10000 })
			    .catch(() => {});
			const cap = await page.textContent('#dev-table caption');
			const st = await page.textContent('#dev-table tbody tr:first-child td:nth-child(4)');
			report(`the ${n} devices turn "Certificate about to expire" (filter and row)`,
			    cap.endsWith(`of ${n}`) && st === 'Certificate about to expire', `${cap}; ${st}`);
			await shot('devices-expiring');
		}

		// ---- the other pages draw with no error
		for (const [name, sel2] of [['ca', '#ca-subject'], ['certificates', 'table'], ['settings', '#settings'],
		    ['alarms', '#alarms table'], ['components', 'table'], ['endpoints', 'table'],
		    ['overview', '#device-total'], ['tasks', 'table']]) {
			await page.click(`a[href="#/${name}"]`);
			await page.waitForSelector(`main ${sel2}`, { timeout: 10000 }).catch(() => {});
			const okp = await page.locator(`main ${sel2}`).count() > 0 &&
			    await page.locator('main .error:not(:empty)').count() === 0;
			report(`the ${name} page draws with no error`, okp);
			if (name === 'overview') {
				const total = await page.textContent('#device-total');
				report(`the overview counts ${n} devices`, total === String(n), total);
				const en = await page.textContent('#by-https dd[data-key="Enabled"]').catch(() => null);
				report(`the overview counts ${n} devices with HTTPS Enabled`, en === String(n), en);
				const okc = await page.textContent('#by-status dd[data-key="Certificate about to expire"]')
				    .catch(() => null);
				report(`the overview counts ${n} devices about to expire (the status they show)`,
				    okc === String(n), okc);
			}
			await shot(name);
			if (name !== 'overview' && name !== 'tasks')
				await axe(name);
		}

		// ---- a recording server's certificate: names and addresses in, a PKCS#12 out
		if (o.p12_out) {
			await page.click('a[href="#/certificates"]');
			await page.click('#issue-rs-btn');
			await page.fill('#rs-dns', 'nvr1.site.example, nvr1');
			await page.fill('#rs-ip', '10.0.0.10');
			await page.fill('#rs-pass', fs.readFileSync(o.p12_pass_file, 'utf8').trim());
			await page.click('#rs-form button[type=submit]');
			await page.waitForSelector('#rs-p12', { timeout: 30000 });
			const serial = await page.textContent('#issued-serial');
			report('the recording-server certificate is issued (its serial shown)', /^[0-9a-f]{16,}$/.test(serial), serial);
			const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }),
			    page.click('#rs-p12')]);
			await dl.saveAs(o.p12_out);
			report('its PKCS#12 downloads as nvr1.site.example.p12', dl.suggestedFilename() === 'nvr1.site.example.p12',
			    dl.suggestedFilename());
			await shot('certificate-issued');
		}

		// ---- an alarm, acknowledged
		await page.click('a[href="#/alarms"]');
		await page.waitForSelector('#alarms table');
		const ack = page.locator('#alarms button.ack').first();
		if (await ack.count() === 0) {
			report('an alarm waits for acknowledgement', false, 'no Acknowledge button');
		} else {
			await ack.click();
			await page.waitForSelector('#alarms td:has-text("by token:admin")', { timeout: 10000 });
			report('an alarm, acknowledged, shows when and by whom', true);
			await shot('alarms-acknowledged');
		}
		report('no dialog opened (no script ran from a device name)', dialogs === 0, dialogs);

		// ---- on a phone: the page fits the screen's width (the tables scroll inside it)
		await page.setViewportSize({ width: 390, height: 844 });
		for (const name of ['devices', 'task']) {
			await page.goto(name === 'task' ? `${o.url}#/tasks/1` : `${o.url}#/devices`);
			await page.waitForSelector(name === 'task' ? '#task-results table' : '#dev-table table', { timeout: 10000 });
			const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
			report(`on a phone (390 px) the ${name} page is no wider than the screen`, w[0] <= w[1], w.join(' > '));
			await shot(`phone-${name}`);
		}
	} catch (err) {
		report('the walk through the UI ran to its end', false, String(err && err.message).split('\n')[0]);
		await shot('failure').catch(() => {});
	}
	report('no console error, page error, failed request or error answer', problems.length === 0,
	    problems.slice(0, 5).join(' | '));
	await ctx.close();
}

main().catch((err) => {
	process.stderr.write(`webui.js: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
});
