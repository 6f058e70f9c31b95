// Sessions: idle expiry, logout, the CSRF synchronizer token, the cookie, and what each role may do.
import { describe, expect, it } from 'vitest';
import { csrfMatches, roleAllows, SESSION_COOKIE, sessionIdFromCookie, SessionStore } from '../../station/auth/sessions.js';

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('sessions', () => {
  it('expire after the idle time without use, and each use restarts the clock', () => {
    const c = clock();
    const store = new SessionStore({ idleMs: 1000, now: c.now });
    const s = store.create('operator');
    c.advance(999);
    expect(store.touch(s.id)?.role).toBe('operator');
    c.advance(999);
    expect(store.touch(s.id)).not.toBeNull(); // used 999 ms after the last use
    c.advance(1000);
    expect(store.touch(s.id)).toBeNull();
    expect(store.size).toBe(0);
  });

  it('peek does not keep a session alive; the sweep removes expired ones and tells the listeners', () => {
    const c = clock();
    const store = new SessionStore({ idleMs: 1000, now: c.now });
    const ended: string[] = [];
    store.onEnd((id) => ended.push(id));
    const a = store.create('engineer');
    const b = store.create('operator');
    c.advance(600);
    expect(store.peek(a.id)).not.toBeNull();
    store.touch(b.id);
    c.advance(600);
    store.sweep();
    expect(ended).toEqual([a.id]);
    expect(store.peek(b.id)).not.toBeNull();
    expect(store.expiresAt(store.peek(b.id)!)).toBe(1_000_000 + 600 + 1000);
  });

  it('ends a session on logout and tells the listeners once', () => {
    const store = new SessionStore();
    const ended: string[] = [];
    store.onEnd((id) => ended.push(id));
    const s = store.create('operator');
    store.end(s.id);
    store.end(s.id);
    expect(store.touch(s.id)).toBeNull();
    expect(ended).toEqual([s.id]);
  });

  it('gives every session its own unguessable id and CSRF token', () => {
    const store = new SessionStore();
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = store.create('operator');
      expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(s.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(s.csrfToken).not.toBe(s.id);
      ids.add(s.id);
      ids.add(s.csrfToken);
    }
    expect(ids.size).toBe(400);
  });
});

describe('the CSRF check', () => {
  it("accepts only the session's own token", () => {
    const store = new SessionStore();
    const a = store.create('engineer');
    const b = store.create('engineer');
    expect(csrfMatches(a, a.csrfToken)).toBe(true);
    expect(csrfMatches(a, b.csrfToken)).toBe(false);
    expect(csrfMatches(a, a.csrfToken.slice(0, -1))).toBe(false);
    expect(csrfMatches(a, undefined)).toBe(false);
    expect(csrfMatches(a, '')).toBe(false);
    expect(csrfMatches(a, [a.csrfToken])).toBe(false);
    expect(csrfMatches(a, a.id)).toBe(false);
  });
});

describe('the session cookie', () => {
  it('is found among other cookies; anything that is not an id of ours is ignored', () => {
    const id = 'A'.repeat(43);
    expect(sessionIdFromCookie(`theme=dark; ${SESSION_COOKIE}=${id}; x=1`)).toBe(id);
    expect(sessionIdFromCookie(`${SESSION_COOKIE}=short`)).toBeNull();
    expect(sessionIdFromCookie(`${SESSION_COOKIE}=${'A'.repeat(40)}%3B`)).toBeNull();
    expect(sessionIdFromCookie('other=1')).toBeNull();
    expect(sessionIdFromCookie(undefined)).toBeNull();
  });
});

describe('roles', () => {
  it("lets an engineer do all an operator can, and an operator nothing of the engineer's", () => {
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('operator', 'engineer')).toBe(false);
    expect(roleAllows('engineer', 'operator')).toBe(true);
    expect(roleAllows('engineer', 'engineer')).toBe(true);
    expect(roleAllows(null, 'operator')).toBe(false);
    expect(roleAllows(null, 'public')).toBe(true);
  });
});
