// Opens URLs in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) with
// HOME set to a given directory, so that Chromium uses that home's NSS database
// ($HOME/.pki/nssdb) to decide which CAs it trusts. For tests/it/daemon_browser.sh.
//
//   node check.js --home DIR --shots DIR [--chromium PATH] [--arg CHROMIUM_FLAG]... URL...
//
// Prints one JSON line per URL:
//   {"url", "status", "body", "error", "protocol", "issuer", "subject", "shot", "shot_error"}
// status/body/TLS details when the page loaded, error (Chromium's net::ERR_... text) when
// navigation failed. Exits 0 when every URL got a line (whatever its outcome), 1 when the
// browser could not be started or driven: the shell test judges the outcomes.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

function usage(msg) {
	process.stderr.write(`check.js: ${msg}\nusage: node check.js --home DIR --shots DIR [--chromium PATH] [--arg FLAG]... URL...\n`);
	process.exit(2);
}

function parseArgs(argv) {
	const o = { home: null, shots: null, chromium: '/usr/bin/chromium', args: [], urls: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--home' || a === '--shots' || a === '--chromium') {
			if (i + 1 >= argv.length)
				usage(`${a} needs a value`);
			o[a.slice(2)] = argv[++i];
		} else if (a === '--arg') {
			if (i + 1 >= argv.length)
				usage('--arg needs a value');
			o.args.push(argv[++i]);
		} else if (a.startsWith('--')) {
			usage(`unknown option ${a}`);
		} else {
			o.urls.push(a);
		}
	}
	if (!o.home || !o.shots || o.urls.length === 0)
		usage('--home, --shots and at least one URL are required');
	return o;
}

function shotName(dir, url) {
	return path.join(dir, url.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9.-]+/g, '_') + '.png');
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	fs.mkdirSync(o.shots, { recursive: true });
	// A persistent context with its profile inside HOME: Chromium then runs entirely out of
	// that home, NSS database included.
	const profile = path.join(o.home, 'chromium-profile');
	const env = { ...process.env, HOME: o.home };
	delete env.SSLKEYLOGFILE;
	const ctx = await chromium.launchPersistentContext(profile, {
		executablePath: o.chromium,
		headless: true,
		env,
		timeout: 120000,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			...o.args,
		],
	});
	try {
		for (const url of o.urls) {
			const r = { url, status: null, body: null, error: null, protocol: null,
				issuer: null, subject: null, shot: null };
			const page = await ctx.newPage();
			try {
				const resp = await page.goto(url, { timeout: 60000, waitUntil: 'load' });
				if (resp === null) {
					r.error = 'no response';
				} else {
					r.status = resp.status();
					r.body = (await resp.text()).slice(0, 200);
					const sd = await resp.securityDetails();
					if (sd) {
						r.protocol = sd.protocol || null;
						r.issuer = sd.issuer || null;
						r.subject = sd.subjectName || null;
					}
				}
			} catch (err) {
				// Playwright's message starts with "page.goto: net::ERR_...".
				const m = /net::ERR_[A-Z_0-9]+/.exec(String(err && err.message));
				r.error = m ? m[0] : String(err && err.message).split('\n')[0];
			}
			try {
				r.shot = shotName(o.shots, url);
				await page.screenshot({ path: r.shot, timeout: 30000 });
			} catch (err) {
				r.shot = null;
				r.shot_error = String(err && err.message).split('\n')[0];
			}
			await page.close();
			process.stdout.write(JSON.stringify(r) + '\n');
		}
	} finally {
		await ctx.close();
	}
}

main().catch((err) => {
	process.stderr.write(`check.js: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
});
