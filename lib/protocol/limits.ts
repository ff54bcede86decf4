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
   * New rooms one address may create per hour: rooms persist, so without this one stranger could use up
   * the server's room limit for everyone.
   */
  maxRoomsCreatedPerHour: 30,
  /** Rooms that may exist on the server at once. */
  maxRooms: 10_000,
  /** Longest /ping token in code points. */
  maxPingToken: 64,
  /** Most entries one /history reply pages back. */
  maxHistoryPage: 200,
  /** Most rooms one /rooms reply lists (the busiest first), so its reply stays far below the send-queue cap. */
  maxRoomsListed: 200,
  /** Most results one /search returns. */
  maxSearchResults: 50,
  /** Most words in one /search query. */
  maxSearchWords: 10,
  /** Most entries replayed on /join (the --history-replay ceiling). */
  maxReplay: 1000,
} as const;

/** The room every user joins on registration; it always exists. */
export const LOBBY = '#lobby';
