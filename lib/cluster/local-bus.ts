import type { ChatEvent } from '../core/events';
import { memberDelivery, type RoomBus } from '../core/ports/room-bus';
import type { Room, Session } from '../core/session';

/**
 * The single-process RoomBus the daemon uses: a publish reaches the room's members here and nowhere else.
 * It counts what it carried, so the daemon (and tests) can see that every room event went through the bus.
 */
export class LocalRoomBus implements RoomBus {
  /** Events published since start. */
  published = 0;

  publish(room: Room, event: ChatEvent, except?: Session): void {
    this.published++;
    memberDelivery.publish(room, event, except);
  }
}
