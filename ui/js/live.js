// The live link to the daemon (socket.io): a snapshot on connect, then deltas applied strictly in
// `seq` order. On a reconnect the client sends the last seq it applied and the server replays what
// it missed (`deltas`) or, when that is no longer in its buffer, sends a fresh snapshot. A gap in
// the numbers (a delta lost somewhere) is never papered over: the client reconnects without
// lastSeq and starts again from a snapshot. The page is never reloaded.
/* global io */
import { t } from './i18n.js';

const ACK_TIMEOUT_MS = 5000;

/**
 * Applies an alarm delta (`alarm.raised|cleared|acked|shelved|unshelved`) to the page's alarm map:
 * the server's alarm board decides what is listed, each delta carries the entry as it now is (null:
 * no longer listed). Returns the slots whose tiles show a changed alarm.
 */
export function applyAlarmDelta(alarms, type, d) {
  const entry = type === 'alarm.raised' ? d : d.entry;
  const before = alarms.get(d.alarmId);
  if (entry) alarms.set(d.alarmId, { ...entry });
  else alarms.delete(d.alarmId);
  return [...new Set([before && before.slot, entry && entry.slot])].filter((slot) => typeof slot === 'number');
}

export class LiveClient {
  /**
   * handlers: onSnapshot(snapshot), onDelta(delta, {replayed}), onStatus(status, detail) where
   * status is 'connecting' | 'live' | 'reconnecting' | 'refused'; detail is the server's reason.
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.csrfToken = null;
    /** The seq of the last delta applied (or of the snapshot); null until the first snapshot. */
    this.lastSeq = null;
    /** How the client caught up each time it (re)connected, newest last: for people and tests. */
    this.syncLog = [];
    this.connects = 0;
    this.resyncs = 0;
  }

  start(csrfToken) {
    this.csrfToken = csrfToken;
    if (this.socket) {
      this.socket.connect();
      return;
    }
    this.handlers.onStatus('connecting');
    // auth is a function so every reconnection attempt sends the seq applied by then.
    // WebSocket only: a browser sends Origin on every WebSocket handshake, which the daemon
    // checks, but not on same-origin long-polling GETs, which it would refuse.
    const socket = io({
      path: '/socket.io',
      transports: ['websocket'],
      auth: (cb) => cb(this.lastSeq === null ? { csrfToken: this.csrfToken } : { csrfToken: this.csrfToken, lastSeq: this.lastSeq }),
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.connects += 1;
      this.handlers.onStatus('live');
    });
    socket.on('disconnect', (reason) => {
      // 'io server disconnect' (the server closed us, e.g. the session ended) is not retried by
      // socket.io by itself; the page decides (log in again, or reconnect).
      if (reason === 'io client disconnect') this.handlers.onStatus('stopped', reason);
      else this.handlers.onStatus(reason === 'io server disconnect' ? 'refused' : 'reconnecting', reason);
    });
    socket.on('connect_error', (err) => {
      // A refusal by the server's handshake check is final for socket.io (socket.active is false);
      // a network error is retried with backoff.
      this.handlers.onStatus(socket.active ? 'reconnecting' : 'refused', err && err.message);
    });
    socket.on('snapshot', (snapshot) => {
      if (!snapshot || typeof snapshot.seq !== 'number') return;
      this.lastSeq = snapshot.seq;
      this.syncLog.push({ kind: 'snapshot', seq: snapshot.seq, at: Date.now() });
      this.trimLog();
      this.handlers.onSnapshot(snapshot);
    });
    socket.on('deltas', (list) => {
      if (!Array.isArray(list)) return;
      this.syncLog.push({ kind: 'deltas', count: list.length, from: list[0] ? list[0].seq : null, to: list.length ? list[list.length - 1].seq : null, at: Date.now() });
      this.trimLog();
      for (const delta of list) if (!this.apply(delta, true)) break;
    });
    socket.on('delta', (delta) => this.apply(delta, false));
  }

  /** Applies one delta if it is the next in order; returns false when it started a resync. */
  apply(delta, replayed) {
    if (!delta || typeof delta.seq !== 'number') return true;
    if (this.lastSeq === null) return true; // no snapshot yet: it is on its way
    if (delta.seq <= this.lastSeq) return true; // already applied (a replay overlapping a live delta)
    if (delta.seq !== this.lastSeq + 1) {
      this.resync(`delta ${delta.seq} arrived after ${this.lastSeq}`);
      return false;
    }
    this.lastSeq = delta.seq;
    this.handlers.onDelta(delta, { replayed });
    return true;
  }

  /** Starts again from a snapshot: reconnects without lastSeq. */
  resync(why) {
    this.resyncs += 1;
    this.syncLog.push({ kind: 'resync', why, at: Date.now() });
    this.trimLog();
    this.lastSeq = null;
    if (!this.socket) return;
    this.socket.disconnect();
    this.socket.connect();
  }

  /** Reconnects with a new CSRF token (after logging in again). */
  reconnect(csrfToken) {
    this.csrfToken = csrfToken;
    if (!this.socket) return this.start(csrfToken);
    this.socket.disconnect();
    this.socket.connect();
  }

  stop() {
    if (this.socket) this.socket.disconnect();
  }

  get connected() {
    return Boolean(this.socket && this.socket.connected);
  }

  /** Sends an operator action; resolves to the server's ack, {ok:false,error} when none came. */
  send(event, payload) {
    return new Promise((resolve) => {
      if (!this.socket || !this.socket.connected) {
        resolve({ ok: false, error: t('live.notConnected') });
        return;
      }
      this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
        if (err) resolve({ ok: false, error: t('live.noAnswerInTime') });
        else resolve(ack && typeof ack === 'object' ? ack : { ok: false, error: t('live.noAnswer') });
      });
    });
  }

  trimLog() {
    if (this.syncLog.length > 50) this.syncLog.splice(0, this.syncLog.length - 50);
  }
}
