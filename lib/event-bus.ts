// A typed event bus: the backbone between parts (the line emits; the server, the uplink and the
// UI listen) and inside drivers (a port's connection, a scanner's scans). A listener that throws
// is caught and logged here; it never takes the daemon down, and the others still hear the event.
import type { Logger } from 'pino';

type Listener<T> = (payload: T) => void;

export class EventBus<M extends object> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  constructor(private readonly log?: Logger) {}

  on<K extends keyof M>(name: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof M>(name: K, payload: M[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<M[K]>)(payload);
      } catch (err) {
        this.log?.error({ err, event: String(name) }, 'event listener threw; the event was still delivered to the others');
      }
    }
  }

  listenerCount(name: keyof M): number {
    return this.listeners.get(name)?.size ?? 0;
  }
}
