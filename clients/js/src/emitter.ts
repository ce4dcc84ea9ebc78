export type AnyHandler = (...args: any[]) => void;

/** A small event emitter; a throwing handler never stops the others. */
export class Emitter {
  private readonly handlers = new Map<string, AnyHandler[]>();

  protected addHandler(event: string, handler: AnyHandler): void {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    const list = this.handlers.get(event);
    if (list) list.push(handler);
    else this.handlers.set(event, [handler]);
  }

  protected removeHandler(event: string, handler?: AnyHandler): void {
    if (!handler) {
      this.handlers.delete(event);
      return;
    }
    const list = this.handlers.get(event);
    if (!list) return;
    const i = list.lastIndexOf(handler);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.handlers.delete(event);
  }

  protected listenerCount(event: string): number {
    return this.handlers.get(event)?.length ?? 0;
  }

  protected emit(event: string, ...args: unknown[]): void {
    const list = this.handlers.get(event);
    if (!list) return;
    for (const fn of list.slice()) {
      try {
        fn(...args);
      } catch (err) {
        this.handlerFailed(event, err);
      }
    }
  }

  /** Called when a handler throws. */
  protected handlerFailed(event: string, err: unknown): void {
    if (event !== 'error' && this.listenerCount('error') > 0) this.emit('error', err);
    else if (typeof console !== 'undefined') console.error(`[moltbeat] handler for "${event}" threw`, err);
  }
}
