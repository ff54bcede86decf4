import { LIMITS } from '../../protocol/limits';
import { codePoints, neutralise, nickShapeProblem, normaliseName } from '../../protocol/text-hygiene';
import { usageOf, type CommandContext, type CommandHandlers } from '../command-table';
import { ChatError } from '../../protocol/errors';
import { isWireFormat, WIRE_FORMATS } from '../../protocol/wire-formats';
import { notice, reasonText, reply } from '../replies';
import { peersOf } from '../room-directory';
import { joinRoom } from './room-commands';

/**
 * Picks a nickname (registering: the Promise is the automatic join's replay) or changes it. The registry
 * judges clashes and look-alikes; it may answer later (a cluster registry), and then so does this.
 */
export function setNick(ctx: Pick<CommandContext, 'core' | 'session'>, raw: string): Promise<void> | undefined {
  const { core, session } = ctx;
  const nick = normaliseName(raw.trim());
  const shape = nickShapeProblem(nick);
  if (shape !== undefined) throw new ChatError('NICK_INVALID', `Invalid nickname: ${shape}.`);
  const claimed = core.nicks.claim(nick, session);
  const done = (): Promise<void> | undefined => {
    // The connection may have gone while an asynchronous registry answered: give the name back.
    if (session.state === 'closing') {
      core.nicks.release(nick, session, false);
      return undefined;
    }
    if (session.state === 'awaiting-nick') {
      session.nick = nick;
      core.admit(session);
      session.deliver(reply('NICK', nick, `Welcome, ${nick}! Type /help for commands; plain lines go to your current room.`));
      for (const line of core.options.motd.split(/\r?\n/)) {
        if (line.trim().length > 0) session.deliver(notice(neutralise(line)));
      }
      core.options.log.log('info', 'register', { id: session.id, nick });
      return core.options.autoJoin === '' ? undefined : joinRoom(ctx, core.options.autoJoin);
    }
    const old = session.nick;
    if (old === nick) {
      session.deliver(reply('NICK', nick, `You are already ${nick}.`));
      return undefined;
    }
    session.nick = nick;
    const event = { type: 'nick', from: old, to: nick } as const;
    // Not through large rooms (see RoomDirectory.isLarge): their members may look the new name up with /who.
    for (const peer of peersOf(session, (room) => core.rooms.isLarge(room))) peer.deliver(event);
    core.presence?.renamed(session, old, core.shownRooms(session));
    session.deliver(reply('NICK', nick, `You are now known as ${nick}.`));
    core.options.log.log('info', 'nick', { id: session.id, from: old, to: nick });
    return undefined;
  };
  return claimed instanceof Promise ? claimed.then(done) : done();
}

/** Handlers of the commands about the connection itself: nickname, help, liveness, leaving. */
export const sessionHandlers = {
  nick: (ctx, args) => setNick(ctx, args.NAME!),
  help: ({ session, table }, args) => {
      if (args.COMMAND === undefined) {
        for (const spec of table.commands) {
          session.deliver({ type: 'help', command: spec.name, text: `${usageOf(spec)} - ${spec.help}` });
        }
        session.deliver(reply('HELP', '*', 'Plain lines go to your current room; //text sends a line starting with /. /help COMMAND for details.'));
        return;
      }
      const name = args.COMMAND.replace(/^\//, '').toLowerCase();
      const spec = table.lookup(name);
      if (spec === undefined) throw new ChatError('UNKNOWN_COMMAND', `Unknown command /${neutralise(name)}. Type /help for the list.`);
      session.deliver({ type: 'help', command: spec.name, text: `Usage: ${usageOf(spec)}` });
      session.deliver({ type: 'help', command: spec.name, text: spec.help });
      if (spec.aliases?.length) session.deliver({ type: 'help', command: spec.name, text: `Aliases: ${spec.aliases.map((a) => '/' + a).join(' ')}` });
      session.deliver(reply('HELP', spec.name, spec.states.includes('awaiting-nick') ? 'Usable before picking a nickname.' : 'Needs a nickname.'));
    },
  ping: ({ core, session }, args) => {
      const token = neutralise(args.TOKEN ?? '');
      if (codePoints(token) > LIMITS.maxPingToken) throw new ChatError('TEXT_TOO_LONG', `A ping token has at most ${LIMITS.maxPingToken} characters.`);
      // A PONG proves that what the client said before its PING is stored: with a store that commits
      // behind the output, it waits for that commit (and the connection's next line waits for the PONG).
      const stored = core.feed.stored();
      if (stored === undefined) session.deliver({ type: 'pong', token });
      else {
        const asked = core.options.clock.now();
        return stored.then(() => {
          // How far storing lags behind the chat, for whoever runs with --log-level debug (bench/history-threads.ts does).
          core.options.log.log('debug', 'pong-waited', { id: session.id, ms: core.options.clock.now() - asked });
          session.deliver({ type: 'pong', token });
        });
      }
    },
  format: ({ session }, args) => {
      const format = args['mychat|json']!.toLowerCase();
      if (!isWireFormat(format)) throw new ChatError('BAD_ARGS', `Usage: /format ${WIRE_FORMATS.join('|')}`);
      session.sink.switchFormat(format);
      session.deliver(
        reply(
          'FORMAT',
          format,
          format === 'json'
            ? 'JSON mode: one JSON object per event; send commands as JSON objects or as lines (/format mychat to go back).'
            : 'mychat lines from now on.',
        ),
      );
    },
  quit: ({ core, session }, args) => {
    const reason = reasonText(args.REASON);
    // Leaving on purpose gives the nickname up at once: only abrupt ends hold it.
    core.end(session, reason ? `Quit: ${reason}` : 'Quit', 'Goodbye!', false);
  },
} satisfies Partial<CommandHandlers>;
