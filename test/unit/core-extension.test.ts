import test from 'ava';
import { LocalRoomBus } from '../../lib/cluster/local-bus';
import { ChatCore, type ChatCoreOptions } from '../../lib/core/chat-core';
import { bindCommands, CommandTable, type CommandHandler } from '../../lib/core/command-table';
import { commandHandlers } from '../../lib/core/commands';
import { LocalNickRegistry } from '../../lib/core/nick-registry';
import type { NickRegistry } from '../../lib/core/ports/nick-registry';
import { reply } from '../../lib/core/replies';
import type { Session } from '../../lib/core/session';
import { COMMAND_CATALOGUE, type CommandInfo } from '../../lib/protocol/command-catalogue';
import { ChatError } from '../../lib/protocol/errors';
import { FakeClock } from '../helpers/fake-clock';
import { codeOf, EventSink, ok, textOf } from '../helpers/event-sink';

function world(options: Partial<ChatCoreOptions> = {}, table?: CommandTable) {
  const clock = new FakeClock();
  const core = new ChatCore({ clock, ...options }, table);
  const connect = (address = '192.0.2.1') => {
    const sink = new EventSink();
    const session = core.connect(sink, address) as Session;
    return { sink, session, say: (text: string) => core.handleInput(session, { ok: true, text }) };
  };
  const user = (nick: string) => {
    const client = connect();
    client.say(nick);
    client.sink.take();
    return client;
  };
  return { clock, core, connect, user };
}

// A command the daemon does not have: its catalogue entry (data) and its handler are all it needs.
const shoutInfo: CommandInfo = {
  name: 'shout',
  aliases: ['yell'],
  args: [{ name: '#ROOM', kind: 'room' }, { name: 'TEXT', kind: 'text' }],
  help: 'Says TEXT in capitals to a room you are in.',
  states: ['registered'],
  cost: 3,
};
const shout: CommandHandler = ({ core, session }, args) => {
  const room = core.rooms.find(args['#ROOM']!);
  if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `Join ${room.name} to shout in it.`);
  const text = args.TEXT!.toUpperCase();
  const at = core.feed.record(session, room, 'MSG', text);
  core.bus.publish(room, { type: 'message', room: room.name, from: session.nick, text, at }, session);
  session.deliver(reply('SHOUT', room.name, 'Shouted.'));
};

test('a new command needs only its catalogue entry and its handler: bound in a table, the unchanged core runs it', (t) => {
  const table = new CommandTable(bindCommands([...COMMAND_CATALOGUE, shoutInfo], { ...commandHandlers, shout }));
  const w = world({}, table);
  const stranger = w.connect();
  stranger.say('/shout #lobby hi');
  t.is(codeOf(stranger.sink.take()[1]), 'NICK_REQUIRED', 'its declared states are enforced');
  const alice = w.user('alice');
  const bob = w.user('bob');
  alice.sink.take();
  alice.say('/yell #lobby hello there');
  t.deepEqual(alice.sink.take(), [ok('SHOUT', '#lobby', 'Shouted.')], 'found by its alias');
  t.deepEqual(bob.sink.take(), [{ type: 'message', room: '#lobby', from: 'alice', text: 'HELLO THERE' }]);
  alice.say('/shout');
  t.deepEqual(alice.sink.take().map(textOf), ['Usage: /shout #ROOM TEXT'], 'usage derived from its arguments');
  t.is(w.core.inputCost(alice.session, '/shout #lobby x'), 3, 'its declared flood cost');
  alice.say('/help shout');
  t.true(alice.sink.take().some((e) => e.type === 'help' && e.text === 'Says TEXT in capitals to a room you are in.'));
});

test('every room event goes through the bus: the local bus carries each broadcast once and members get it', (t) => {
  const bus = new LocalRoomBus();
  const w = world({ bus });
  const alice = w.user('alice');
  const bob = w.user('bob');
  const before = bus.published;
  t.is(before, 2, "alice's and bob's joins to #lobby");
  alice.say('hello');
  alice.say('/me waves');
  alice.say('/topic #lobby welcome');
  alice.say('/join #side');
  bob.say('/join #side');
  alice.say('/paste');
  alice.say('a line');
  alice.say('.');
  bob.say('/part #side');
  t.is(bus.published - before, 7, 'message, action, topic, two joins to #side, paste, part');
  t.deepEqual(
    bob.sink.take().map((e) => e.type),
    ['message', 'action', 'topic', 'room', 'names', 'reply', 'paste', 'reply'],
    'bob saw each published event addressed to him, plus his own replies',
  );
});

/** A registry that answers every claim a turn later, as a cluster registry asking other servers would. */
class SlowRegistry implements NickRegistry<Session> {
  pending: Promise<void>[] = [];
  constructor(private readonly local: LocalNickRegistry) {}
  get size(): number {
    return this.local.size;
  }
  owners(): IterableIterator<Session> {
    return this.local.owners();
  }
  find(nick: string): Session | undefined {
    return this.local.find(nick);
  }
  release(nick: string, owner: Session, hold: boolean): void {
    this.local.release(nick, owner, hold);
  }
  claim(nick: string, owner: Session): Promise<void> {
    const answer = Promise.resolve().then(() => this.local.claim(nick, owner));
    this.pending.push(answer.catch(() => undefined));
    return answer;
  }
}

test('an asynchronous nickname registry: registration waits for its answer, refusals arrive as errors, and a connection gone meanwhile keeps no name', async (t) => {
  const clock = new FakeClock();
  const options = { clock, reservedNicks: [], nickHoldMs: 60_000, maxClients: 100 };
  const registry = new SlowRegistry(new LocalNickRegistry(options));
  const w = world({ clock, nicks: registry });
  const alice = w.connect();
  const pending = alice.say('alice');
  t.true(pending instanceof Promise, 'the connection waits for the registry');
  t.deepEqual(alice.sink.take().map((e) => e.type), ['hello'], 'nothing yet');
  await pending;
  t.deepEqual(alice.sink.take()[0], ok('NICK', 'alice', 'Welcome, alice! Type /help for commands; plain lines go to your current room.'));
  t.is(w.core.userCount, 1);
  const copy = w.connect('198.51.100.1');
  await copy.say('alice');
  t.is(codeOf(copy.sink.take().at(-1)), 'NICK_IN_USE');
  const leaver = w.connect('198.51.100.2');
  const late = leaver.say('bob');
  w.core.disconnect(leaver.session, 'Connection closed');
  await late;
  t.is(registry.find('bob'), undefined, 'the name claimed for a closed connection was given back');
  t.deepEqual(leaver.sink.take().map((e) => e.type), ['hello']);
});
