// vmspki web UI: sign-in, the router (#/page/arg) and the page frame. The pages are in
// pages.js; every call goes to the REST API (api.js), every value is shown as text (ui.js).
import { api, token, setToken, whenUnauthorized } from './api.js';
import { el, clear, errorBox, showError } from './ui.js';
import { pages } from './pages.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signout = document.getElementById('signout');
let current = null;     // the shown page's context: {alive, timer}; stopped when it goes

function stopCurrent() {
	if (current) {
		current.alive = false;
		clearTimeout(current.timer);
	}
	current = null;
}

function signIn(message) {
	stopCurrent();
	nav.hidden = true;
	signout.hidden = true;
	const box = errorBox();
	const input = el('input', { id: 'token', name: 'token', type: 'password', required: true,
	    autocomplete: 'off', spellcheck: 'false' });
	const form = el('form', { class: 'signin-form', novalidate: true },
	    el('label', { for: 'token', text: 'API token' }), input,
	    el('p', { class: 'muted', text: 'A token made with `vmspki token create NAME` (the ' +
	    'daemon prints the first one, "admin", when it starts). It is kept in this tab only.' }),
	    box, el('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const t = input.value.trim();
		if (!t) {
			showError(box, 'Enter the API token.');
			input.focus();
			return;
		}
		setToken(t);
		try {
			await api('GET', '/api/v1/tasks', { noSignout: true });
		} catch (err) {
			setToken(null);
			showError(box, err);
			input.focus();
			return;
		}
		if (!location.hash || location.hash === '#/signin')
			location.hash = '#/overview';
		else
			route();
	});
	clear(main).append(el('section', { class: 'signin', 'aria-labelledby': 'signin-h' },
	    el('h1', { id: 'signin-h', text: 'Sign in to vmspki' }),
	    message ? el('p', { class: 'error', role: 'alert', text: message }) : null, form));
	document.title = 'Sign in · vmspki';
	input.focus();
}

whenUnauthorized((err) => {
	setToken(null);
	signIn(`Signed out: ${err.message}`);
});

signout.addEventListener('click', () => {
	setToken(null);
	location.hash = '#/signin';
	signIn('Signed out.');
});

function route() {
	if (!token()) {
		signIn();
		return;
	}
	const [, name = 'overview', ...rest] = (location.hash || '#/overview').split('/');
	const page = pages[name] || pages.overview;
	stopCurrent();
	nav.hidden = false;
	signout.hidden = false;
	for (const a of nav.querySelectorAll('a')) {
		if (a.getAttribute('href') === `#/${pages[name] ? name : 'overview'}`)
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
	const root = el('section', { 'aria-live': 'off' });
	clear(main).append(root);
	document.title = `${page.title} · vmspki`;
	const ctx = { alive: true, timer: null };
	current = ctx;
	Promise.resolve().then(() => page.show(root, rest.map(decodeURIComponent), ctx))
	    .catch((err) => {
		if (ctx.alive)
			root.append(el('p', { class: 'error', role: 'alert', text: err.message }));
	});
	main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
