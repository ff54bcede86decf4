import type { ChatEvent } from '../events';
import type { Room, Session } from '../session';

/**
 * Where room events go: every broadcast of the core (message, action, paste, join, part, topic) is one
 * publish. The local bus (lib/cluster/local-bus.ts) hands the event to the room's members in this process;
 * a cluster bus would also carry it to the members on other servers.
 */
export interface RoomBus {
  /** Delivers `event` to every member of `room` but `except`; the event object is shared, never changed. */
  publish(room: Room, event: ChatEvent, except?: Session): void;
}

/** Delivery to the room's members in this process: what a bus does last, and the core's bus when it is given none. */
export const memberDelivery: RoomBus = {
  publish: (room, event, except) => room.broadcast(event, except),
};
