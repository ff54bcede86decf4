import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import { codePoints, neutralise } from '../../protocol/text-hygiene';
import { usageOf, type CommandSpec } from '../command-table';
import { ChatError } from '../errors';

/** Commands about the connection itself: nickname, help, liveness, leaving. */
export const sessionCommands: CommandSpec[] = [
  {
    name: 'nick',
    aliases: ['name'],
    args: [{ name: 'NAME', kind: 'word' }],
    help: 'Pick or change your nickname: 1-24 letters, digits, _ or -, starting with a letter; unique ignoring case.',
    states: ['awaiting-nick', 'registered'],
    run: ({ core, session }, args) => core.setNick(session, args.NAME!),
  },
  {
    name: 'help',
    aliases: ['h', '?'],
    args: [{ name: 'COMMAND', kind: 'word', optional: true }],
    help: 'List the commands, or explain one.',
    states: ['awaiting-nick', 'registered'],
    run: ({ session, table }, args) => {
      if (args.COMMAND === undefined) {
        for (const spec of table.commands) {
          session.send(encodeLine('HELP', [spec.name], `${usageOf(spec)} - ${spec.help}`));
        }
        session.send(encodeLine('OK', ['HELP', '*'], 'Plain lines go to your current room; //text sends a line starting with /. /help COMMAND for details.'));
        return;
      }
      const name = args.COMMAND.replace(/^\//, '').toLowerCase();
      const spec = table.lookup(name);
      if (spec === undefined) throw new ChatError('UNKNOWN_COMMAND', `Unknown command /${neutralise(name)}. Type /help for the list.`);
      session.send(encodeLine('HELP', [spec.name], `Usage: ${usageOf(spec)}`));
      session.send(encodeLine('HELP', [spec.name], spec.help));
      if (spec.aliases?.length) session.send(encodeLine('HELP', [spec.name], `Aliases: ${spec.aliases.map((a) => '/' + a).join(' ')}`));
      session.send(encodeLine('OK', ['HELP', spec.name], spec.states.includes('awaiting-nick') ? 'Usable before picking a nickname.' : 'Needs a nickname.'));
    },
  },
  {
    name: 'ping',
    args: [{ name: 'TOKEN', kind: 'text', optional: true }],
    help: 'Ask the server to answer PONG (with TOKEN, if given): replies come in order, so this confirms everything sent before it was handled.',
    states: ['awaiting-nick', 'registered'],
    run: ({ session }, args) => {
      const token = neutralise(args.TOKEN ?? '');
      if (codePoints(token) > LIMITS.maxPingToken) throw new ChatError('TEXT_TOO_LONG', `A ping token has at most ${LIMITS.maxPingToken} characters.`);
      session.send(encodeLine('PONG', [], token));
    },
  },
  {
    name: 'quit',
    aliases: ['exit', 'bye'],
    args: [{ name: 'REASON', kind: 'text', optional: true }],
    help: 'Leave the server; the people in your rooms see REASON.',
    states: ['awaiting-nick', 'registered'],
    run: ({ core, session }, args) => core.quit(session, args.REASON),
  },
];
