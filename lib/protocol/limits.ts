/** Protocol limits shared by the daemon, the client and the documentation; every one bounds something a stranger controls. */
export const LIMITS = {
  /** Longest accepted input line in bytes, excluding its terminator. */
  maxLineBytes: 4096,
  /** Longest telnet subnegotiation skipped; past it, the bytes that follow are read as ordinary input again. */
  maxSubnegotiationBytes: 1024,
  /** Nickname length in Unicode code points. */
  maxNickLength: 24,
  /** Room name length in code points, not counting the leading '#'. */
  maxRoomNameLength: 32,
  /** Longest room topic in code points. */
  maxTopicLength: 390,
  /** Longest /part or /quit reason in code points. */
  maxReasonLength: 200,
  /** Rooms one connection may be in at once. */
  maxRoomsPerUser: 50,
  /**
   * New rooms one network (an IPv4 /24, an IPv6 /64) may create per hour: rooms persist, so without this
   * one stranger with a block of addresses could churn through the server's rooms.
   */
  maxRoomsCreatedPerHour: 30,
  /** Default of the daemon's --max-rooms: rooms that may exist on the server at once. */
  maxRooms: 10_000,
  /** Longest /ping token in code points. */
  maxPingToken: 64,
  /** Most entries one /history reply pages back. */
  maxHistoryPage: 200,
  /** Most rooms one /rooms reply lists (the busiest first), so its reply stays far below the send-queue cap. */
  maxRoomsListed: 200,
  /** Most nicknames one /who reply lists (a page; /who #ROOM PAGE shows the others), so a reply about a large room stays small. */
  maxWhoNames: 200,
  /** Most results one /search returns. */
  maxSearchResults: 50,
  /** Most words in one /search query. */
  maxSearchWords: 10,
  /** Most entries replayed on /join (the --history-replay ceiling). */
  maxReplay: 1000,
  /** Shortest search word matched as a prefix; shorter words match whole words only (a one-letter prefix walks most of the index). */
  minSearchPrefix: 3,
  /** Most bytes one reply (a /history page, a /search result, a /rooms list) may produce; past it the reply is cut and says how to see more. */
  maxReplyBytes: 64 * 1024,
  /** Most lines in one /paste block. */
  maxPasteLines: 100,
  /** Most bytes of text in one /paste block. */
  maxPasteBytes: 16 * 1024,
  /** Most input lines waiting for flood control before the excess is discarded (with one NOTICE saying how many). */
  maxBacklogLines: 200,
  /** Most bytes of input waiting for flood control before the excess is discarded. */
  maxBacklogBytes: 64 * 1024,
} as const;

/** The room every user joins on registration; it always exists. */
export const LOBBY = '#lobby';
