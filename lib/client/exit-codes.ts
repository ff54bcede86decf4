/** The client's exit statuses, documented in mychat(1) and `mychat --help`; scripts may rely on them. */
export const EXIT = {
  /** Finished normally: /quit, Ctrl-C or Ctrl-D, or (pipe mode) every stdin line confirmed by the server. */
  ok: 0,
  /** A bug in the client. */
  internal: 1,
  /** Invalid options or arguments. */
  usage: 2,
  /** The server could not be reached, did not greet like mychatd, or was full. */
  unreachable: 3,
  /** The server refused the nickname (taken or invalid) in pipe mode. */
  nickRefused: 4,
  /** The connection was lost before the work was done (pipe mode, or before registering). */
  connectionLost: 5,
  /** The server refused a --join room in pipe mode. */
  joinRefused: 6,
} as const;

/** One line per exit status, for --help. */
export const EXIT_HELP = [
  `${EXIT.ok}  success`,
  `${EXIT.usage}  invalid options or arguments`,
  `${EXIT.unreachable}  server unreachable, not a mychat server, or full`,
  `${EXIT.nickRefused}  nickname refused (pipe mode)`,
  `${EXIT.connectionLost}  connection lost (pipe mode, or before registering)`,
  `${EXIT.joinRefused}  a --join room refused (pipe mode)`,
  `${EXIT.internal}  internal error`,
].join('\n  ');
