import type { ClientHost } from './host.js';
import { RecentIdSet } from './policy.js';
import type { PendingRequests } from './requests.js';
import type { RoomPosition } from './subscriptions.js';
import type { EventMessage, SubscribedMessage } from './types.js';

/** A room whose new epoch is being replayed from its start (after a server restart). */
interface Catchup {
  phase: 'awaiting' | 'replaying';
  /** The offset the replay ends at (the catch-up reply's `offset`). */
  target: number;
  /**
   * Offsets of this room seen among the held events, each with how many offsets it accounts for: itself, and the
   * older events it replaced (`conflated`, revision 1.1), whose offsets the room skips and which never come.
   */
  have: Map<number, number>;
  /** How many of 1..target are accounted for by `have` (kept while replaying). */
  count: number;
}

/** @internal */
export interface RecoveryOptions {
  /** How many recent event ids are remembered to drop duplicates. */
  dedupWindow: number;
  /** Whether a room whose epoch changed is replayed from the new epoch's start. */
  recoverNewEpoch: boolean;
  /** Longest time events are held back while such a replay runs, ms. */
  catchupTimeout: number;
}

/**
 * What makes the application see each event once and in order across reconnects: the de-duplication of
 * replayed events by their id (`offsets.all`), and the catch-up of rooms whose epoch changed (the server
 * restarted), during which recorded events are held and then released in publication order.
 * @internal
 */
export class Recovery {
  private readonly seen: RecentIdSet;
  /** The dedup window was cleared for an epoch change on this connection (once is enough). */
  private dedupResetOnThisConnection = false;
  private readonly catchups = new Map<string, Catchup>();
  /** Recorded events held while a catch-up runs, released in publication order (`offsets.all`). */
  private held: EventMessage[] = [];
  private catchupTimer: unknown = null;

  constructor(
    private readonly host: ClientHost,
    private readonly requests: PendingRequests,
    private readonly options: RecoveryOptions,
    /** Handles a released event again (now that no catch-up runs). */
    private readonly release: (msg: EventMessage) => void,
  ) {
    this.seen = new RecentIdSet(options.dedupWindow);
  }

  connectionOpened(): void {
    this.dedupResetOnThisConnection = false;
  }

  /** The connection closed: catch-ups end, and held events are dropped. */
  connectionClosed(): void {
    this.catchups.clear();
    this.held = []; // not delivered: their rooms' offsets did not move, so the next resubscribe recovers them
    if (this.catchupTimer !== null) this.host.timers.clearTimeout(this.catchupTimer);
    this.catchupTimer = null;
  }

  /**
   * A `subscribed` reply told a room's epoch: true when it changed from the one the client knew. Then the server
   * lost its history (e.g. restarted): offsets, and so event ids, start again, and the dedup window is cleared.
   */
  epochChanged(known: string | undefined, told: string | undefined): boolean {
    const changed = known !== undefined && told !== undefined && told !== known;
    if (changed && !this.dedupResetOnThisConnection) {
      this.seen.clear();
      this.dedupResetOnThisConnection = true;
    }
    return changed;
  }

  /**
   * The resubscription of `room` found a new epoch that has `offset` events already: everything in it was
   * published while the client was away, so ask for it from its start, holding recorded events meanwhile.
   */
  replayNewEpoch(room: string, st: RoomPosition, offset: number | undefined, lasting: { maxRate?: number; occupancy?: boolean } = {}): void {
    if (!this.options.recoverNewEpoch || typeof offset !== 'number' || !(offset > 0)) return;
    st.offset = 0;
    this.catchups.set(room, { phase: 'awaiting', target: 0, have: new Map(), count: 0 });
    if (this.catchupTimer === null) {
      this.catchupTimer = this.host.timers.setTimeout(() => {
        this.catchupTimer = null;
        this.catchups.clear();
        this.checkCatchups();
      }, this.options.catchupTimeout);
    }
    const id = this.requests.add({ kind: 'subscribe', room, since: true, catchup: true });
    // With the subscription's maxRate and occupancy: the server applies the latest subscribe's (and conflates this replay).
    this.host.send({ type: 'subscribe', room, id, since: { epoch: st.epoch, offset: 0 }, ...lasting });
  }

  /** The reply to a catch-up subscribe of `room`. */
  onCatchupReply(room: string, st: RoomPosition, msg: SubscribedMessage): void {
    const c = this.catchups.get(room);
    if (msg.recovered === true && c) {
      c.phase = 'replaying';
      c.target = typeof msg.offset === 'number' ? msg.offset : 0;
      c.count = 0;
      for (const [o, n] of c.have) if (o >= 1 && o <= c.target) c.count += n;
    } else {
      if (typeof msg.offset === 'number') st.offset = Math.max(st.offset ?? 0, msg.offset);
      this.catchups.delete(room);
    }
    this.checkCatchups();
  }

  /** The catch-up subscribe of `room` failed: stop waiting for it. */
  catchupFailed(room: string): void {
    this.catchups.delete(room);
    this.checkCatchups();
  }

  /** `room` was unsubscribed (or refused): a catch-up of it, if any, ends. */
  forget(room: string): void {
    if (this.catchups.delete(room)) this.checkCatchups();
  }

  /**
   * Holds a recorded event while a catch-up runs (then true: it is delivered later, in publication order;
   * replayed and live copies collapse in the dedup).
   */
  hold(msg: EventMessage, offsets: Record<string, number>): boolean {
    if (this.catchups.size === 0) return false;
    this.held.push(msg);
    // A conflated event stands for the events it replaced as well: without them the replay would never look complete.
    const n = 1 + conflatedCount(msg);
    for (const [room, c] of this.catchups) {
      const o = offsets[room];
      if (typeof o !== 'number' || c.have.has(o)) continue;
      c.have.set(o, n);
      if (c.phase === 'replaying' && o >= 1 && o <= c.target) c.count += n;
    }
    this.checkCatchups();
    return true;
  }

  /** True when an event with these offsets was delivered already (its id `offsets.all` is in the window). */
  isDuplicate(offsets: Record<string, number> | undefined): boolean {
    return offsets !== undefined && typeof offsets.all === 'number' && !this.seen.add(offsets.all);
  }

  /** Ends the catch-ups whose replay is complete; when none is left, releases the held events in order. */
  private checkCatchups(): void {
    for (const [room, c] of [...this.catchups]) {
      if (c.phase === 'replaying' && c.count >= c.target) this.catchups.delete(room);
    }
    if (this.catchups.size > 0) return;
    if (this.catchupTimer !== null) this.host.timers.clearTimeout(this.catchupTimer);
    this.catchupTimer = null;
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    const key = (m: EventMessage) => (typeof m.offsets?.all === 'number' ? m.offsets.all : Number.MAX_SAFE_INTEGER);
    held.sort((a, b) => key(a) - key(b)); // stable: events without `all` keep their arrival order, last
    for (const m of held) this.release(m);
  }
}

/**
 * How many older events of its room, event name and key an event replaced (revision 1.1): 0 when it says nothing
 * or something that is not a count.
 * @internal
 */
export function conflatedCount(msg: EventMessage): number {
  const k = msg.conflated;
  return typeof k === 'number' && Number.isSafeInteger(k) && k > 0 ? k : 0;
}
