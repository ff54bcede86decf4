/**
 * Who holds which nickname. The local registry (lib/core/nick-registry.ts) keeps them in this process's
 * memory; a cluster registry would ask the other servers, so claim may answer with a Promise (the
 * connection's next line waits for it).
 */
export interface NickRegistry<Owner> {
  /**
   * Takes `nick` (NFC-normalised, shape already checked) for `owner`, giving up the nickname `owner` held
   * before, or throws a ChatError (NICK_IN_USE, NICK_RESERVED, NICK_INVALID) saying which name it clashes with.
   */
  claim(nick: string, owner: Owner): void | Promise<void>;
  /** Gives up `owner`'s `nick`; with `hold`, keeps it for the owner's address for a while (an abrupt disconnect). */
  release(nick: string, owner: Owner, hold: boolean): void;
  /** The owner of `nick` (case-insensitive), if it is taken on this server. */
  find(nick: string): Owner | undefined;
  /** Number of nicknames taken on this server. */
  readonly size: number;
  /** The owners of the nicknames taken on this server, in the order they took them. */
  owners(): IterableIterator<Owner>;
}
