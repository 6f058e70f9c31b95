// The live socket (socket.io at /socket.io, on the HTTP server): the handshake needs the session
// cookie, the session's CSRF token in `auth.csrfToken` and an Origin that is the station's own (or
// listed in server.allowedOrigins); a client then gets a snapshot, or the deltas it missed, and
// every delta after. Client events are checked here: a schema, a role, an ack. A malformed event
// gets a clear ack error and never disturbs anyone else's connection.
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { Server, type Socket } from 'socket.io';
import { z } from 'zod';
import { actorOf, csrfMatches, roleAllows, sessionIdFromCookie, type Access, type Actor, type Role, type SessionStore } from '../auth/sessions.js';
import type { ActionResult, StationActions } from './actions.js';
import { FAULT_KINDS } from './faults.js';
import { misdirected } from './hosts.js';
import { lineDelta, lineSnapshot } from './line-screen.js';
import type { LiveFeed } from './live.js';

interface SocketData {
  sessionId: string;
  role: Role;
}

interface ClientEvent {
  access: Access;
  schema: z.ZodType;
  run(payload: never, by: Actor): ActionResult;
}

export type Ack = { ok: true } | { ok: false; error: string };

const slotNumber = z.number().int().min(0).max(63);
const lastSeqSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export class LiveSocketServer {
  private io: Server | null = null;
  private offDelta: (() => void) | null = null;
  private offSessionEnd: (() => void) | null = null;
  private readonly socketsBySession = new Map<string, Set<Socket>>();
  private readonly events: Record<string, ClientEvent>;

  constructor(
    private readonly deps: {
      feed: LiveFeed;
      sessions: SessionStore;
      actions: StationActions;
      allowedOrigins: readonly string[];
      /** server.lineScreen: the read-only /line namespace for the line screen, no login (line-screen.ts). */
      lineScreen?: boolean;
      /** Whether a handshake's Host names this station (station/server/hosts.ts); default: any. */
      allowHost?: (host: string | undefined, address: string | undefined) => boolean;
      log: Logger;
    },
  ) {
    const a = deps.actions;
    this.events = {
      'slot.start': {
        access: 'operator',
        schema: z.strictObject({ slot: slotNumber }),
        run: (p: { slot: number }, by) => a.startSlot(p.slot, by),
      },
      'slot.clear': {
        access: 'operator',
        schema: z.strictObject({ slot: slotNumber }),
        run: (p: { slot: number }, by) => a.clearVerdict(p.slot, by),
      },
      'prompt.answer': {
        access: 'operator',
        schema: z.strictObject({ promptId: z.string().min(1).max(100), answer: z.string().min(1).max(256) }),
        run: (p: { promptId: string; answer: string }, by) => a.answerPrompt(p.promptId, p.answer, by),
      },
      'alarm.ack': {
        access: 'operator',
        schema: z.strictObject({ alarmId: z.string().min(1).max(200) }),
        run: (p: { alarmId: string }, by) => a.ackAlarm(p.alarmId, by),
      },
      'sim.fault': {
        access: 'engineer',
        schema: z.strictObject({ slot: slotNumber, kind: z.enum(FAULT_KINDS) }),
        run: (p: { slot: number; kind: (typeof FAULT_KINDS)[number] }, by) => a.injectFault(p.slot, p.kind, by),
      },
    };
  }

  attach(server: HttpServer): void {
    const io = new Server<Record<string, (...args: unknown[]) => void>, Record<string, (...args: unknown[]) => void>, Record<string, never>, SocketData>(server, {
      path: '/socket.io',
      // The dashboard loads the matching client from /socket.io/socket.io.js (socket.io's own copy).
      serveClient: true,
      // Client events are a few hundred bytes; a bigger frame is not one of ours.
      maxHttpBufferSize: 16 * 1024,
      connectTimeout: 10_000,
      // Before anything else of the handshake (polling or WebSocket upgrade): a page on a rebound
      // DNS name carries that name in Host, and its Origin would then look like our own.
      allowRequest: (req, answer) => {
        if (!this.deps.allowHost || this.deps.allowHost(req.headers.host, req.socket.remoteAddress)) answer(null, true);
        else answer(misdirected(req.headers.host), false);
      },
    });
    const originOk = (socket: Socket): boolean => {
      const h = socket.handshake;
      const host = h.headers.host;
      const origin = h.headers.origin;
      const own = host ? `${h.secure ? 'https' : 'http'}://${host}` : null;
      if (!origin || (origin !== own && !this.deps.allowedOrigins.includes(origin))) {
        this.deps.log.warn({ origin: typeof origin === 'string' ? origin.slice(0, 200) : null, address: h.address }, 'live socket refused: bad origin');
        return false;
      }
      return true;
    };
    if (this.deps.lineScreen) this.attachLineScreen(io, originOk);
    io.use((socket, next) => {
      const h = socket.handshake;
      if (!originOk(socket)) {
        next(new Error('bad origin'));
        return;
      }
      const session = this.deps.sessions.touch(sessionIdFromCookie(h.headers.cookie));
      const auth = (h.auth ?? {}) as { csrfToken?: unknown };
      if (!session || !csrfMatches(session, auth.csrfToken)) {
        next(new Error('unauthorized'));
        return;
      }
      socket.data.sessionId = session.id;
      socket.data.role = session.role;
      next();
    });
    io.on('connection', (socket) => {
      try {
        this.onConnection(socket);
      } catch (err) {
        // The snapshot reads the store: a failed disk ends this connection, not the daemon.
        this.deps.log.error({ err }, 'sending a new live socket its snapshot failed');
        socket.disconnect(true);
      }
    });
    const offMain = this.deps.feed.onDelta((delta) => io.to(['operator', 'engineer']).emit('delta', delta));
    const offLine = this.offDelta;
    this.offDelta = () => {
      offLine?.();
      offMain();
    };
    this.offSessionEnd = this.deps.sessions.onEnd((sessionId) => {
      for (const s of this.socketsBySession.get(sessionId) ?? []) s.disconnect(true);
      this.socketsBySession.delete(sessionId);
    });
    this.io = io;
  }

  /**
   * The line screen's namespace: no login, the same Origin rule, a snapshot and then deltas cut
   * to what a wall screen may show (line-screen.ts), and no client event carried out.
   */
  private attachLineScreen(io: Server, originOk: (socket: Socket) => boolean): void {
    const ns = io.of('/line');
    ns.use((socket, next) => (originOk(socket) ? next() : next(new Error('bad origin'))));
    ns.on('connection', (socket) => {
      try {
        this.deps.feed.syncSlots();
        socket.emit('snapshot', lineSnapshot(this.deps.feed.snapshot()));
      } catch (err) {
        this.deps.log.error({ err }, 'sending the line screen its snapshot failed');
        socket.disconnect(true);
        return;
      }
      socket.onAny((...args: unknown[]) => {
        const ack = args.at(-1);
        if (typeof ack === 'function') (ack as (a: Ack) => void)({ ok: false, error: 'the line screen is read-only' });
      });
    });
    const off = this.deps.feed.onDelta((delta) => {
      const shown = lineDelta(delta);
      if (shown) ns.emit('delta', shown);
    });
    const previous = this.offDelta;
    this.offDelta = () => {
      previous?.();
      off();
    };
  }

  private onConnection(socket: Socket): void {
    const { sessionId, role } = socket.data as SocketData;
    let set = this.socketsBySession.get(sessionId);
    if (!set) {
      set = new Set();
      this.socketsBySession.set(sessionId, set);
    }
    set.add(socket);
    socket.on('disconnect', () => {
      const s = this.socketsBySession.get(sessionId);
      s?.delete(socket);
      if (s?.size === 0) this.socketsBySession.delete(sessionId);
    });
    // Everything here is synchronous: no delta can fall between what this client is sent now and
    // the live deltas that follow.
    const feed = this.deps.feed;
    feed.syncSlots();
    socket.join(role);
    const lastSeq = lastSeqSchema.safeParse((socket.handshake.auth as { lastSeq?: unknown } | undefined)?.lastSeq);
    const missed = lastSeq.success ? feed.since(lastSeq.data) : null;
    if (missed) socket.emit('deltas', missed);
    else socket.emit('snapshot', feed.snapshot());
    socket.onAny((event: unknown, ...args: unknown[]) => this.onClientEvent(socket, event, args));
  }

  private onClientEvent(socket: Socket, event: unknown, args: unknown[]): void {
    const last = args.at(-1);
    const ack = typeof last === 'function' ? (last as (answer: Ack) => void) : null;
    const answer = (reply: Ack): void => {
      try {
        ack?.(reply);
      } catch (err) {
        this.deps.log.warn({ err }, 'answering a socket event failed');
      }
    };
    try {
      const { sessionId } = socket.data as SocketData;
      const session = this.deps.sessions.touch(sessionId);
      if (!session) {
        answer({ ok: false, error: 'not logged in' });
        socket.disconnect(true);
        return;
      }
      const name = typeof event === 'string' ? event : '';
      const spec = Object.hasOwn(this.events, name) ? this.events[name] : undefined;
      if (!spec) {
        answer({ ok: false, error: 'unknown event' });
        return;
      }
      if (!roleAllows(session.role, spec.access)) {
        answer({ ok: false, error: 'this needs the engineer role' });
        return;
      }
      // With an ack and nothing else, the payload is missing (the schema says so).
      const payload = spec.schema.safeParse(ack && args.length === 1 ? undefined : args[0]);
      if (!payload.success) {
        answer({ ok: false, error: `bad payload for ${name}: ${payload.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}` });
        return;
      }
      if (!ack) this.deps.log.debug({ event: name }, 'socket event without an ack callback; carried out, nobody to answer');
      const result = spec.run(payload.data as never, actorOf(session));
      answer(result.ok ? { ok: true } : { ok: false, error: result.error });
    } catch (err) {
      this.deps.log.error({ err }, 'a socket event failed inside the station');
      answer({ ok: false, error: 'internal error; see the station log' });
    }
  }

  close(): Promise<void> {
    this.offDelta?.();
    this.offSessionEnd?.();
    const io = this.io;
    this.io = null;
    if (!io) return Promise.resolve();
    io.disconnectSockets(true);
    // io.close() would also close the HTTP server, which HttpServer owns and closes itself.
    io.engine.close();
    return Promise.resolve();
  }
}
