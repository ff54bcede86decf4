import { LIMITS } from '../../protocol/limits';
import { codePoints, neutralise } from '../../protocol/text-hygiene';
import { usageOf, type CommandHandlers } from '../command-table';
import { ChatError } from '../../protocol/errors';
import { reply } from '../replies';
import { isWireFormat, WIRE_FORMATS } from '../../protocol/wire-formats';

/** Handlers of the commands about the connection itself: nickname, help, liveness, leaving. */
export const sessionHandlers = {
  nick: ({ core, session }, args) => core.setNick(session, args.NAME!),
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
  ping: ({ session }, args) => {
      const token = neutralise(args.TOKEN ?? '');
      if (codePoints(token) > LIMITS.maxPingToken) throw new ChatError('TEXT_TOO_LONG', `A ping token has at most ${LIMITS.maxPingToken} characters.`);
      session.deliver({ type: 'pong', token });
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
  quit: ({ core, session }, args) => core.quit(session, args.REASON),
} satisfies Partial<CommandHandlers>;
