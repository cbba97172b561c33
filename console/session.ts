/**
 * Who the page runs as, in the header. With auth configured and no credential: a login form
 * (`POST /auth/login`, which sets the session cookie every later request and EventSource sends);
 * signed in with that cookie: the user, the roles and a logout button. The page is then loaded
 * again, so every view starts from what the new visitor may see. A cookie the server no longer
 * takes (expired, logged out elsewhere, a password changed) also gets the form, saying why.
 */
import type { SessionInfo } from '../src/http/console-types.ts';
import { call, errorText } from './api.ts';
import { byId, button, el } from './dom.ts';

export function showSession(session: SessionInfo): void {
  const host = byId('session');
  host.replaceChildren();
  if (!session.auth) {
    host.append(el('p', 'auth is off: every visitor may do everything'));
    return;
  }
  if (session.user !== null) {
    host.append(el('p', `signed in as ${session.user} (${session.roles.join(', ') || 'no roles'})`));
    // Basic or bearer credentials are the browser's or a proxy's to drop: only the cookie is the page's.
    if (session.via === 'cookie') {
      host.append(
        button('Log out', () => {
          void call('POST', '/auth/logout').then(() => location.reload());
        }),
      );
    }
    return;
  }
  showLogin();
  host.append(el('p', session.roles.length ? `not signed in (anonymous: ${session.roles.join(', ')})` : 'not signed in'));
}

/** The login form, with `why` (a session that ended) said where the form's errors go. */
export function showLogin(why?: string): void {
  byId('login-section').hidden = false;
  const form = byId<HTMLFormElement>('login');
  const user = byId<HTMLInputElement>('login-user');
  const password = byId<HTMLInputElement>('login-password');
  const out = byId('login-result');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void call('POST', '/auth/login', { username: user.value, password: password.value }).then((answer) => {
      if (answer.ok) {
        location.reload();
        return;
      }
      password.setAttribute('aria-invalid', 'true');
      out.textContent = errorText(answer);
      password.select();
    });
  });
  if (why) out.textContent = why;
}
